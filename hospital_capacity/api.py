"""The capacity API (FastAPI): emergency centres post beds, capabilities and diversion, and answer
the transfer requests the dispatcher sends them (accept, or decline with a coded reason).

Every route but ``/health`` needs ``Authorization: Bearer <token>``; a centre's token
updates only that centre, the control room's token any centre. Bad input gets a 4xx that
names the problem, and nothing stored changes. Every status code a route can answer is listed
in the OpenAPI document with its body: a 422's ``detail`` is always a list of
``{loc, msg, type}`` naming the field (business rules too), the other refusals' a sentence.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Path, Query, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from hospital_capacity.egen import EgenError
from hospital_capacity.have import to_have_xml
from hospital_capacity.schemas import (
    EARLIEST_OBSERVATION,
    MAX_FUTURE_SKEW,
    AnswerCreate,
    ErrorMessage,
    Health,
    HospitalPublic,
    ImportResult,
    StatusUpdate,
    Timestamp,
    UpdatePublic,
    ValidationProblems,
)
from hospital_capacity.service import Caller, CapacityService, Forbidden, Unauthorized, UnknownHospital
from hospital_capacity.state import UpdateRejected
from telemetry import schemas as wire
from telemetry.topics import ID_PATTERN

#: Largest JSON body (a status update is a few kilobytes).
MAX_BODY_BYTES = 64 * 1024
#: Largest E-Gen document for ``POST /import/egen``: items shaped as the real sample's are 1.9 KB
#: each, so a page of 45 is 87 KB and all 529 centres 1.0 MB.
MAX_IMPORT_BYTES = 2 * 1024 * 1024
IMPORT_PATH = "/import/egen"
_bearer = HTTPBearer(auto_error=False, description="a token from `goldentime hospitals token create`")


def _caller(request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Caller:
    service: CapacityService = request.app.state.service
    return service.caller(credentials.credentials if credentials else None)


CallerDep = Annotated[Caller, Depends(_caller)]


def _refusal(description: str) -> dict[str, Any]:
    return {"model": ErrorMessage, "description": description}


Responses = dict[int | str, dict[str, Any]]
_XML = {"application/xml": {"schema": {"type": "string"}}}
#: A real-time beds document of one item, the shape the live E-Gen API answers.
EGEN_EXAMPLE = (
    "<response><header><resultCode>00</resultCode><resultMsg>NORMAL SERVICE.</resultMsg></header><body><items>"
    "<item><hpid>A1500002</hpid><dutyName>전남대학교병원</dutyName><hvec>3</hvec><hvs01>30</hvs01>"
    "<hvctayn>Y</hvctayn><hvidate>20261124093000</hvidate></item></items><totalCount>1</totalCount></body></response>"
)
NOT_JSON: Responses = {400: _refusal("the body cannot be read as JSON text (e.g. not UTF-8)")}
UNAUTHORIZED: Responses = {401: _refusal("no token, or a malformed, unknown or expired one")}
FORBIDDEN: Responses = {403: _refusal("the token is another centre's")}
NOT_FOUND: Responses = {404: _refusal("no emergency centre with this hpid")}
TOO_LARGE: Responses = {413: _refusal(f"body over {MAX_BODY_BYTES} bytes ({MAX_IMPORT_BYTES} for {IMPORT_PATH})")}
HAVE_DOCUMENT: Responses = {200: {"content": _XML, "description": "an EDXL-HAVE 1.0 HospitalStatus document"}}


def _responses(*parts: Responses) -> Responses:
    """The refusals (and special successes) a route declares, merged."""
    merged: Responses = {}
    for part in parts:
        merged |= part
    return merged


def _problems(message: str, loc: Sequence[str | int] = (), where: str = "body") -> JSONResponse:
    """A 422 shaped as FastAPI's own: ``detail`` a list of one ``{loc, msg, type}``."""
    return JSONResponse({"detail": [{"type": "value_error", "loc": [where, *loc], "msg": message}]}, status_code=422)


def create_app(
    service: CapacityService,
    *,
    mqtt_connected: Callable[[], bool] = lambda: False,
    cors_origins: Sequence[str] = (),
) -> FastAPI:
    """The API. CORS is closed unless ``cors_origins`` names the web origins allowed to call it."""
    app = FastAPI(
        title="GoldenTime capacity API",
        version="1",
        description="Emergency centres post beds, capabilities and EMS traffic status; every accepted update is "
        "published to MQTT `ems/hospitals/{hpid}/capacity` (retained). Field names follow EDXL-HAVE and E-Gen.\n\n"
        "Rules: the newest observation wins, part by part (one bed type, one piece of equipment, one condition, "
        "the EMS traffic status, the offload time): an update observed before what is stored does not replace "
        "it. `observed_at` (E-Gen `hvidate`) may be at most "
        f"{MAX_FUTURE_SKEW.total_seconds() / 60:g} minutes ahead of the server's clock and not before "
        f"{EARLIEST_OBSERVATION:%Y-%m-%d}; an `expires_at` must be later than now. "
        "Text fields carry no control characters. "
        f"Bodies are limited to {MAX_BODY_BYTES} bytes, {MAX_IMPORT_BYTES} for `{IMPORT_PATH}` (413 above). "
        "Times are ISO 8601 strings with a time zone. A 422's `detail` lists `{loc, msg, type}`.\n\n"
        "A centre answers a transfer request (MQTT `ems/hospitals/{hpid}/requests`) with "
        "`POST /hospitals/{hpid}/requests/{request_id}/answer`: the answer is published as `ems.answer/1` on "
        "`ems/hospitals/{hpid}/answer` for the dispatcher, which owns the requests and says on the crew's "
        "`ems/units/{unit}/request` where each stands.",
    )

    app.state.service = service
    if cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(cors_origins),
            allow_methods=["GET", "PATCH", "POST"],
            allow_headers=["Authorization", "Content-Type"],
        )

    @app.middleware("http")
    async def limit_body(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        limit = MAX_IMPORT_BYTES if request.url.path == IMPORT_PATH else MAX_BODY_BYTES
        length = request.headers.get("content-length")
        too_big = length is not None and (not length.isdigit() or int(length) > limit)
        if length is None and request.method in ("POST", "PUT", "PATCH"):
            too_big = len(await request.body()) > limit
        if too_big:
            return JSONResponse({"detail": f"body over {limit} bytes"}, status_code=413)
        return await call_next(request)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        """FastAPI's own 422, except for a refused NaN or Infinity: JSON cannot echo it back
        (rendering it was a 500), so those errors go without their ``input``, still naming the field."""
        errors = jsonable_encoder(exc.errors())
        try:
            return JSONResponse({"detail": errors}, status_code=422)
        except ValueError:
            named = [{key: e[key] for key in ("type", "loc", "msg") if key in e} for e in errors]
            return JSONResponse({"detail": named}, status_code=422)

    @app.exception_handler(UnknownHospital)
    async def _unknown(request: Request, exc: UnknownHospital) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(Forbidden)
    async def _forbidden(request: Request, exc: Forbidden) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=403)

    @app.exception_handler(Unauthorized)
    async def _unauthorized(request: Request, exc: Unauthorized) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=401, headers={"WWW-Authenticate": "Bearer"})

    @app.exception_handler(UpdateRejected)
    async def _rejected(request: Request, exc: UpdateRejected) -> JSONResponse:
        return _problems(str(exc), exc.loc)

    @app.exception_handler(EgenError)
    async def _egen(request: Request, exc: EgenError) -> JSONResponse:
        return _problems(f"E-Gen document refused: {exc}")

    @app.get("/health", response_model=Health, tags=["service"])
    def health() -> Health:
        try:
            hospitals, database = service.store.count(), True
            unpublished = len(service.store.unpublished())
        except Exception:  # the database is down: say so instead of failing the health check
            hospitals, database, unpublished = 0, False, -1
        return Health(
            status="ok" if database else "degraded",
            database=database,
            mqtt=mqtt_connected(),
            hospitals=hospitals,
            unpublished=unpublished,
        )

    @app.get("/hospitals", response_model=list[HospitalPublic], tags=["hospitals"], responses=UNAUTHORIZED)
    def list_hospitals(_: CallerDep, region: str | None = None) -> list[HospitalPublic]:
        """Every centre with its latest status and the age of that status."""
        found = service.hospitals()
        return [h for h in found if region is None or h.region == region]

    @app.get(
        "/hospitals/have.xml",
        tags=["hospitals"],
        response_class=Response,
        responses=_responses(HAVE_DOCUMENT, UNAUTHORIZED, {404: _refusal("no centre in this region")}),
    )
    def have_all(_: CallerDep, region: str | None = None) -> Response:
        """Every centre (of ``region``, when given) in one EDXL-HAVE 1.0 document."""
        found = [h for h in service.hospitals() if region is None or h.region == region]
        if not found:
            return JSONResponse({"detail": f"no emergency centre in region {region!r}"}, status_code=404)
        return Response(to_have_xml(found, now=service.clock()), media_type="application/xml")

    @app.get(
        "/hospitals/{hpid}",
        response_model=HospitalPublic,
        tags=["hospitals"],
        responses=_responses(UNAUTHORIZED, NOT_FOUND),
    )
    def get_hospital(hpid: str, _: CallerDep) -> HospitalPublic:
        return service.hospital(hpid)

    @app.patch(
        "/hospitals/{hpid}/status",
        response_model=HospitalPublic,
        tags=["hospitals"],
        responses=_responses(NOT_JSON, UNAUTHORIZED, FORBIDDEN, NOT_FOUND, TOO_LARGE),
    )
    def update_status(hpid: str, update: StatusUpdate, who: CallerDep) -> HospitalPublic:
        """A partial update by the centre: only the parts named change, each with its own time; a
        part observed before the stored one does not replace it. ``{}`` changes nothing and
        answers the current state."""
        return service.update(hpid, update, caller=who)

    @app.post(
        "/hospitals/{hpid}/requests/{request_id}/answer",
        response_model=wire.Answer,
        status_code=202,
        tags=["requests"],
        responses=_responses(NOT_JSON, UNAUTHORIZED, FORBIDDEN, NOT_FOUND, TOO_LARGE),
    )
    def answer_request(
        hpid: str,
        request_id: Annotated[str, Path(pattern=f"^{ID_PATTERN}$", description="the request's id, as listed")],
        body: AnswerCreate,
        who: CallerDep,
    ) -> wire.Answer:
        """The centre's answer to one of its transfer requests: ``seen`` (it is on a screen), ``accept``, or
        ``decline`` with a ``reason`` (``no_bed``, ``no_specialist``, ``no_equipment``, ``other``) and,
        optionally, ``text``. Answered 202 with the ``ems.answer/1`` message as it goes to the broker (it is
        sent as soon as the broker is reachable; the dispatcher then updates the request)."""
        return service.answer(hpid, request_id, body, caller=who)

    @app.get(
        "/hospitals/{hpid}/history",
        response_model=list[UpdatePublic],
        tags=["hospitals"],
        responses=_responses(UNAUTHORIZED, NOT_FOUND),
    )
    def history(
        hpid: str,
        _: CallerDep,
        since: Annotated[
            Timestamp | None, Query(description="ISO 8601 with a time zone, e.g. 2026-11-24T09:00:00+09:00")
        ] = None,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    ) -> list[UpdatePublic]:
        """Every accepted update since ``since``, oldest first, with who made it."""
        return service.history(hpid, since, limit)

    @app.get(
        "/hospitals/{hpid}/have.xml",
        tags=["hospitals"],
        response_class=Response,
        responses=_responses(HAVE_DOCUMENT, UNAUTHORIZED, NOT_FOUND),
    )
    def have(hpid: str, _: CallerDep) -> Response:
        """The centre's status as an EDXL-HAVE 1.0 document."""
        return Response(to_have_xml([service.hospital(hpid)], now=service.clock()), media_type="application/xml")

    @app.post(
        IMPORT_PATH,
        response_model=ImportResult,
        tags=["import"],
        responses=_responses(
            UNAUTHORIZED,
            FORBIDDEN,
            TOO_LARGE,
            {422: {"model": ValidationProblems, "description": "not an E-Gen document this service imports"}},
        ),
        openapi_extra={
            "requestBody": {
                "required": True,
                "description": f"an E-Gen XML response, at most {MAX_IMPORT_BYTES} bytes",
                "content": {"application/xml": {"schema": {"type": "string"}, "example": EGEN_EXAMPLE}},
            }
        },
    )
    async def import_egen(request: Request, who: CallerDep) -> ImportResult:
        """An E-Gen `getEmrrmRltmUsefulSckbdInfoInqire` or `getSrsillDissAceptncPosblInfoInqire` XML
        response as the body; every centre it names is updated (unknown centres are listed, items
        whose `hvidate` is in the future are refused with the reason, parts observed later than the
        item are kept)."""
        body = await request.body()
        return await run_in_threadpool(service.import_egen, body, caller=who)

    return app
