"""The capacity API (FastAPI): emergency centres post beds, capabilities and diversion.

Every route but ``/health`` needs ``Authorization: Bearer <token>``; a centre's token
updates only that centre, the control room's token any centre. Bad input gets a 4xx that
names the problem, and nothing stored changes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Annotated

from fastapi import Depends, FastAPI, Query, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from hospital_capacity.egen import EgenError
from hospital_capacity.have import to_have_xml
from hospital_capacity.schemas import Health, HospitalPublic, ImportResult, StatusUpdate, UpdatePublic
from hospital_capacity.service import Caller, CapacityService, Forbidden, Unauthorized, UnknownHospital
from hospital_capacity.state import UpdateRejected

MAX_BODY_BYTES = 64 * 1024
_bearer = HTTPBearer(auto_error=False, description="a token from `goldentime hospitals token create`")


def _caller(request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Caller:
    service: CapacityService = request.app.state.service
    return service.caller(credentials.credentials if credentials else None)


CallerDep = Annotated[Caller, Depends(_caller)]


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
        "published to MQTT `ems/hospitals/{hpid}/capacity` (retained). Field names follow EDXL-HAVE and E-Gen.",
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
        length = request.headers.get("content-length")
        too_big = length is not None and (not length.isdigit() or int(length) > MAX_BODY_BYTES)
        if length is None and request.method in ("POST", "PUT", "PATCH"):
            too_big = len(await request.body()) > MAX_BODY_BYTES
        if too_big:
            return JSONResponse({"detail": f"body over {MAX_BODY_BYTES} bytes"}, status_code=413)
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
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(EgenError)
    async def _egen(request: Request, exc: EgenError) -> JSONResponse:
        return JSONResponse({"detail": f"E-Gen document refused: {exc}"}, status_code=422)

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

    @app.get("/hospitals", response_model=list[HospitalPublic], tags=["hospitals"])
    def list_hospitals(_: CallerDep, region: str | None = None) -> list[HospitalPublic]:
        """Every centre with its latest status and the age of that status."""
        found = service.hospitals()
        return [h for h in found if region is None or h.region == region]

    @app.get("/hospitals/{hpid}", response_model=HospitalPublic, tags=["hospitals"])
    def get_hospital(hpid: str, _: CallerDep) -> HospitalPublic:
        return service.hospital(hpid)

    @app.patch("/hospitals/{hpid}/status", response_model=HospitalPublic, tags=["hospitals"])
    def update_status(hpid: str, update: StatusUpdate, who: CallerDep) -> HospitalPublic:
        """A partial update by the centre: only the parts named change, each with its own time."""
        return service.update(hpid, update, caller=who)

    @app.get("/hospitals/{hpid}/history", response_model=list[UpdatePublic], tags=["hospitals"])
    def history(
        hpid: str,
        _: CallerDep,
        since: Annotated[datetime | None, Query(description="ISO 8601 with a time zone")] = None,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    ) -> list[UpdatePublic]:
        """Every accepted update since ``since``, oldest first, with who made it."""
        if since is not None and since.tzinfo is None:
            raise UpdateRejected("since: give a time zone, e.g. 2026-11-24T09:00:00+09:00")
        return service.history(hpid, since, limit)

    @app.get("/hospitals/{hpid}/have.xml", tags=["hospitals"], response_class=Response)
    def have(hpid: str, _: CallerDep) -> Response:
        """The centre's status as an EDXL-HAVE 1.0 document."""
        return Response(to_have_xml(service.hospital(hpid)), media_type="application/xml")

    @app.post("/import/egen", response_model=ImportResult, tags=["import"])
    async def import_egen(request: Request, who: CallerDep) -> ImportResult:
        """An E-Gen `getEmrrmRltmUsefulSckbdInfoInqire` or `getSrsillDissAceptncPosblInfoInqire` XML
        response as the body; every centre it names is updated (unknown centres are listed)."""
        body = await request.body()
        return await run_in_threadpool(service.import_egen, body, caller=who)

    return app
