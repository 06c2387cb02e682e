"""Fuzzing the capacity API from its OpenAPI schema (the reliability issue, "Bad input").

Schemathesis generates requests for every route and method of ``app.openapi()``: ones that fit
the schema (positive) and ones that break it (negative: wrong types, missing and extra fields,
out-of-range numbers, odd path, query and header values). Each is sent three times: with a
valid token, a wrong one and none. The schema cannot describe what the JSON parser and the
E-Gen import take, so hand-written hostile requests follow: every field of a valid update broken
in every way tests/reliability/payloads.py knows (NaN and Infinity tokens, huge numbers, deep
nesting...), broken JSON, non-UTF-8, bodies over 64 KiB, odd content types, methods, paths,
query values and Authorization headers, and hostile E-Gen XML.

The rule (a bad API body gets a 422 that names the field): no 5xx, ever; every 4xx carries a
``detail``, a 422's saying where the problem is; and whatever was accepted can still be read,
re-validated and published as ``ems.capacity/1``. The counts are printed (``pytest -s``) and
quoted in docs/reliability.md.

Last, schemathesis runs with every one of its checks (status codes, content types, response
schemas and headers, valid data accepted, invalid data refused, missing headers, unsupported
methods, ignored authentication...) through its own pytest integration (examples, coverage and
fuzzing phases), each case sent with a control-room token and with none, on SQLite and, where
configured, PostgreSQL: the OpenAPI document is a contract the API keeps.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
import sqlalchemy as sa
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.config import SchemathesisConfig
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.schemas import OpenApiSchema

from goldentime.settings import default_data_dir
from hospital_capacity.api import create_app
from hospital_capacity.service import CapacityService, seed_rows
from hospital_capacity.state import to_payload
from hospital_capacity.store import CapacityStore
from telemetry import schemas, topics
from tests.reliability.payloads import (
    BAD_TIMES,
    NOT_JSON,
    NOT_UTF8,
    Expect,
    dumps,
    field_mutations,
    nodes,
    replaced,
    to_bytes,
)
from tests.reliability.payloads import Path as FieldPath

DATA = default_data_dir()
SAMPLE = DATA / "hospitals" / "nemc_samples" / "getEmrrmRltmUsefulSckbdInfoInqire_A1100015_20240926.xml"
JNUH = "A1500002"  # 전남대학교병원
CHOSUN = "A1500001"  # 조선대학교병원
#: Schemathesis cases per generation mode; each is sent with three tokens.
EXAMPLES = 400
#: Where FastAPI says a request was wrong.
LOCATIONS = {"body", "query", "path", "header", "cookie"}
TOKENS = ("valid", "centre", "wrong", "none", "malformed")
_NOW = datetime.now(UTC).replace(microsecond=0)
#: A valid status update touching every part: the start of every hand-written hostile body
#: (observed an hour ago, an advisory that ends in three hours: the API refuses expiries past).
VALID_UPDATE: dict[str, Any] = {
    "beds": {"er_general": {"available": 3, "total": 30}, "icu": {"available": 0, "total": 8, "overcrowded": True}},
    "equipment": {"ct": True, "mri": None},
    "conditions": {"stemi_pci": True, "er_open": False},
    "ems_traffic": {"status": "advisory", "reason": "CT down", "expires_at": (_NOW + timedelta(hours=3)).isoformat()},
    "offload_minutes": 12.5,
    "observed_at": (_NOW - timedelta(hours=1)).isoformat(),
}
#: Mutation families after which an update must be refused whatever the field. The API takes
#: the types its OpenAPI document names ("3" is no bed count, 1772355600 no time, 1 no boolean).
MUST_REFUSE = {"nan", "huge", "out-of-range", "long-string", "nested", "extra-field", "wrong-type", "bad-time"}
#: No text field takes control characters (PostgreSQL cannot query a JSON value with a NUL).
CONTROL = frozenset(map(chr, [*range(0x20), *range(0x7F, 0xA0)]))


@dataclass
class Route:
    requests: int = 0
    ok: int = 0  # 2xx
    refused: int = 0  # 4xx with a detail
    server_errors: int = 0  # 5xx
    by_token: dict[str, int] = field(default_factory=dict)


@dataclass
class Fuzz:
    """The API under test, its tokens, and what happened to every request."""

    client: TestClient
    service: CapacityService
    tokens: dict[str, str | None]
    routes: dict[tuple[str, str], Route] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def send(
        self, route: str, method: str, url: str, token: str, *, authorization: str | bytes | None = None, **kw: Any
    ) -> httpx.Response:
        """Send one request with the token named ``token`` (or, for "malformed", the header
        ``authorization``); check the response against the rule and count it under ``route``."""
        headers = {k: v for k, v in kw.pop("headers", {}).items() if k.lower() != "authorization"}
        if token == "malformed" and authorization is not None:
            headers["Authorization"] = authorization
        elif token != "malformed" and self.tokens[token] is not None:
            headers["Authorization"] = f"Bearer {self.tokens[token]}"
        response: httpx.Response = self.client.request(method, url, headers=headers, **kw)
        row = self.routes.setdefault((method, route), Route())
        row.requests += 1
        row.by_token[token] = row.by_token.get(token, 0) + 1
        status = response.status_code
        what = f"{method} {url[:100]} [{token}] -> {status}: {response.text[:300]}"
        if status >= 500:
            row.server_errors += 1
            self.problems.append(what)
        elif status >= 400:
            problem = _detail_problem(status, response.content)
            if problem is None:
                row.refused += 1
            else:
                self.problems.append(f"{problem}: {what}")
        else:
            row.ok += 1
        return response

    def total(self) -> Route:
        rows = self.routes.values()
        return Route(
            sum(r.requests for r in rows),
            sum(r.ok for r in rows),
            sum(r.refused for r in rows),
            sum(r.server_errors for r in rows),
        )

    def print(self, title: str) -> None:
        """The table docs/reliability.md quotes (shown with ``pytest -s``)."""
        print(f"\n{title}")
        head = f"{'method':<7} {'route':<28} {'requests':>8} {'2xx':>6} {'4xx':>6} {'5xx':>4}"
        print(f"{head}  by token ({'/'.join(TOKENS)})")
        for (method, route), row in sorted(self.routes.items(), key=lambda item: (item[0][1], item[0][0])):
            tokens = "/".join(str(row.by_token.get(t, 0)) for t in TOKENS)
            counts = f"{row.requests:>8} {row.ok:>6} {row.refused:>6} {row.server_errors:>4}"
            print(f"{method:<7} {route:<28} {counts}  {tokens}")
        t = self.total()
        print(f"{'all':<7} {'':<28} {t.requests:>8} {t.ok:>6} {t.refused:>6} {t.server_errors:>4}")


def _detail_problem(status: int, content: bytes) -> str | None:
    """Why a 4xx body falls short of the rule, or None: JSON with a non-empty ``detail``; for a
    422, a text, or entries that each say where (body, query, path, header, and which field or
    parameter) and what is wrong."""
    try:
        detail = json.loads(content)["detail"]
    except (ValueError, KeyError, TypeError):
        return "a 4xx without a JSON detail"
    if not detail or not isinstance(detail, str | list):
        return f"an empty or odd detail {detail!r}"
    if status == 422 and isinstance(detail, list):
        for entry in detail:
            loc, msg = entry.get("loc") or [], str(entry.get("msg") or "")
            if not loc or loc[0] not in LOCATIONS or not msg.strip():
                return f"a 422 entry that names no field: {entry}"
            if loc[0] != "body" and len(loc) < 2:  # a query, path or header error names its parameter
                return f"a 422 entry that names no parameter: {entry}"
    return None


def _numbers(value: Any) -> Iterator[float]:
    if isinstance(value, dict):
        for child in value.values():
            yield from _numbers(child)
    elif isinstance(value, list):
        for child in value:
            yield from _numbers(child)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        yield value


def _everything_accepted_still_works(fuzz: Fuzz) -> None:
    """What the API accepted can be read back (history re-validates every stored update) and
    published: every centre's state makes a valid ``ems.capacity/1`` payload, with no NaN."""
    now = datetime.now(UTC)
    for row in fuzz.service.store.all_hospitals():
        assert all(math.isfinite(n) for n in _numbers(row["state"])), row["hpid"]
        payload = to_payload(row["state"], now)  # what the publisher sends
        assert schemas.decode(topics.Kind.CAPACITY, schemas.encode(payload)) == payload
    headers = {"Authorization": f"Bearer {fuzz.tokens['valid']}"}
    assert fuzz.client.get("/hospitals", headers=headers).status_code == 200
    for hpid in (JNUH, CHOSUN):
        for url in (f"/hospitals/{hpid}", f"/hospitals/{hpid}/history?limit=10000", f"/hospitals/{hpid}/have.xml"):
            assert fuzz.client.get(url, headers=headers).status_code == 200, url


@pytest.fixture
def fuzz(tmp_path: Path) -> Iterator[Fuzz]:
    store = CapacityStore.open(f"sqlite:///{tmp_path / 'fuzz.sqlite3'}")
    service = CapacityService(store)
    service.seed([h for h in seed_rows(DATA) if h.hpid.startswith("A15")])
    tokens: dict[str, str | None] = {
        "valid": service.create_token(None, "control room"),
        "centre": service.create_token(JNUH, "JNUH charge nurse"),
        "wrong": "gt_" + "A" * 43,  # well formed, never issued
        "none": None,
    }
    yield Fuzz(TestClient(create_app(service), raise_server_exceptions=False), service, tokens)
    store.close()


# --- generated from the OpenAPI schema ----------------------------------------------------------


def test_requests_generated_from_the_openapi_schema_never_get_a_5xx(fuzz: Fuzz) -> None:
    """Schemathesis, positive and negative, every route and method, three tokens per request."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", fuzz.client.app)
    results = list(schema.get_all_operations())
    operations = [result.ok() for result in results if isinstance(result, Ok)]
    assert len(operations) == len(results)  # the schema loads whole
    assert {(o.method.upper(), o.path) for o in operations} == {
        ("GET", "/health"),
        ("GET", "/hospitals"),
        ("GET", "/hospitals/have.xml"),
        ("GET", "/hospitals/{hpid}"),
        ("PATCH", "/hospitals/{hpid}/status"),
        ("POST", "/hospitals/{hpid}/requests/{request_id}/answer"),
        ("GET", "/hospitals/{hpid}/history"),
        ("GET", "/hospitals/{hpid}/have.xml"),
        ("POST", "/import/egen"),
    }
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        # a share of the cases at a real centre, or an update would only ever meet a 404
        at_a_centre = [
            schema[o.path][o.method.upper()].as_strategy(mode, path_parameters={"hpid": JNUH})
            for o in operations
            if "{hpid}" in o.path
        ]
        strategy = st.one_of(schema.as_strategy(mode), *at_a_centre)

        @settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
                  suppress_health_check=list(HealthCheck))  # fmt: skip
        @given(case=strategy)
        def send(case: schemathesis.Case[Any]) -> None:
            request = case.as_transport_kwargs(base_url="http://testserver")
            method, url = request.pop("method"), request.pop("url")
            request.pop("cookies", None)
            if "json" in request:
                request["content"] = json.dumps(request.pop("json")).encode()
            if isinstance(request.get("data"), str | bytes):
                request["content"] = request.pop("data")
            for token in ("valid", "wrong", "none"):
                fuzz.send(case.operation.path, method, url, token, **dict(request))

        send()
    fuzz.print("Capacity API, generated by schemathesis from app.openapi() (positive and negative)")
    assert fuzz.problems == [], fuzz.problems[:5]
    assert fuzz.total().requests >= 2 * EXAMPLES * 3
    assert {route for _, route in fuzz.routes} == {o.path for o in operations}
    assert all(set(r.by_token) == {"valid", "wrong", "none"} for r in fuzz.routes.values())
    assert fuzz.total().ok > 0  # the valid token really got through
    _everything_accepted_still_works(fuzz)


# --- hand-written: what the schema does not describe ------------------------------------------------


def _must_refuse(family: str, value: Any) -> bool:
    return family in MUST_REFUSE or (family == "tricky-text" and bool(CONTROL & set(str(value))))


def hostile_updates() -> Iterator[tuple[str, bytes, str, Expect]]:
    """(family, body, field name, expectation) for ``PATCH /hospitals/{hpid}/status``."""
    for path, value in list(nodes(VALID_UPDATE)):
        name = next(str(p) for p in reversed(path) if isinstance(p, str))
        for family, new, _ in field_mutations(path, value):
            expect = Expect.REJECT if _must_refuse(family, new) else Expect.EITHER
            yield family, to_bytes(dumps(replaced(VALID_UPDATE, path, new))), name, expect
    objects: list[FieldPath] = [(), ("ems_traffic",), ("beds", "er_general"), ("beds", "icu")]
    for path in objects:
        yield "extra-field", to_bytes(dumps(replaced(VALID_UPDATE, (*path, "zz_extra"), 1))), "zz_extra", Expect.REJECT
    for part in ("beds", "equipment", "conditions"):  # a key that is no bed type, equipment or condition
        yield (
            "extra-field",
            to_bytes(dumps(replaced(VALID_UPDATE, (part, "zz_extra"), None))),
            "zz_extra",
            Expect.REJECT,
        )
    text = dumps(VALID_UPDATE)
    for at in range(1, len(text), 5):
        yield "truncated", to_bytes(text[:at]), "", Expect.REJECT
    for bad in NOT_UTF8:
        yield "not-utf8", to_bytes(text[:40]) + bad + to_bytes(text[40:]), "", Expect.REJECT
    yield "utf-16", text.encode("utf-16"), "", Expect.EITHER  # with a BOM: Python's JSON parser reads it right
    for raw in (*NOT_JSON, b""):
        if raw == b"{}":  # an update that names nothing: valid, a no-op
            yield "empty-update", raw, "", Expect.ACCEPT
        else:
            yield "not-json", raw, "", Expect.REJECT
    yield "deep", b"[" * 10_000 + b"]" * 10_000, "", Expect.REJECT
    yield "deep", b'{"beds":' + b'{"a":' * 5_000 + b"1" + b"}" * 5_001, "", Expect.REJECT
    yield "deep", to_bytes(text[:-1] + ',"zz":' + "[" * 900 + "]" * 900 + "}"), "zz", Expect.REJECT
    yield "oversized", to_bytes(text[:-1] + ',"pad":"' + "x" * 70_000 + '"}'), "", Expect.REJECT
    yield "oversized", to_bytes(text[:-1] + " " * 70_000 + "}"), "", Expect.REJECT
    yield "duplicate-key", to_bytes(text[:-1] + ',"offload_minutes":NaN}'), "offload_minutes", Expect.REJECT
    yield "valid", to_bytes(text), "", Expect.ACCEPT


def test_hostile_status_updates_get_a_4xx_naming_the_field_never_a_5xx(fuzz: Fuzz) -> None:
    """Every field of a valid update broken in every way, and broken JSON, with a centre's
    token: no 5xx, nothing NaN, huge or out of range accepted, and each 422 names the field."""
    url = f"/hospitals/{JNUH}/status"
    wrong, unnamed = [], []
    for family, body, name, expect in hostile_updates():
        response = fuzz.send("/hospitals/{hpid}/status", "PATCH", url, "centre", content=body,
                             headers={"Content-Type": "application/json"})  # fmt: skip
        status = response.status_code
        if (expect is Expect.REJECT and status < 400) or (expect is Expect.ACCEPT and status != 200):
            wrong.append((family, name, status, body[:150]))
        if status == 422 and expect is Expect.REJECT and name and name not in response.text:
            unnamed.append((family, name, response.text[:200]))
    body = to_bytes(dumps(VALID_UPDATE))
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "application/json; charset=utf-16",
                         "multipart/form-data; boundary=x", "application/xml", ""):  # fmt: skip
        fuzz.send("/hospitals/{hpid}/status", "PATCH", url, "centre", content=body,
                  headers={"Content-Type": content_type})  # fmt: skip
    other = fuzz.send("/hospitals/{hpid}/status", "PATCH", f"/hospitals/{CHOSUN}/status", "centre", content=body,
                      headers={"Content-Type": "application/json"})  # fmt: skip
    assert other.status_code == 403
    fuzz.print("Capacity API, hand-written hostile status updates")
    assert fuzz.problems == [], fuzz.problems[:5]
    assert wrong == [], wrong[:5]
    assert unnamed == [], unnamed[:5]
    assert fuzz.total().requests >= 500
    _everything_accepted_still_works(fuzz)


def _egen(fields: str, *, hpid: str = JNUH, declaration: str = "") -> bytes:
    item = f"<item><hpid>{hpid}</hpid>{fields}</item>"
    return (f"{declaration}<response><header><resultCode>00</resultCode></header>"
            f"<body><items>{item}</items></body></response>").encode()  # fmt: skip


def hostile_egen() -> Iterator[tuple[str, bytes]]:
    """E-Gen XML bodies for ``POST /import/egen``: valid, odd and hostile."""
    beds = "<hvec>5</hvec><hvs01>20</hvs01><hvctayn>Y</hvctayn><hvidate>20260301090000</hvidate>"
    yield "valid beds", _egen(beds)
    yield "valid severe", _egen("<MKioskTy1>Y</MKioskTy1><MKioskTy28>Y</MKioskTy28><hvidate>20260301090000</hvidate>")
    yield "real sample (a Seoul centre, unknown here)", SAMPLE.read_bytes()
    yield "another centre", _egen(beds, hpid=CHOSUN)
    for hvidate in ("00010101000000", "99991231235959", "20261301000000", "2026030109000", "x" * 14):
        yield f"hvidate {hvidate[:14]}", _egen(f"<hvec>5</hvec><hvidate>{hvidate}</hvidate>")
    for count in ("9" * 5000, "-" + "9" * 5000, "10001", "-2", "-1", "1e308", "NaN", "٣", "", " 3 ", "0x10", "1_000"):
        yield f"hvec {count[:12]}", _egen(f"<hvec>{count}</hvec><hvs01>{count}</hvs01>")
    for kiosk in ("9" * 5000, "0", "29", "00001", "-1"):
        yield f"MKioskTy{kiosk[:12]}", _egen(f"<MKioskTy{kiosk}>Y</MKioskTy{kiosk}>")
    yield "beds and kiosk at once", _egen("<hvec>5</hvec><MKioskTy1>Y</MKioskTy1>")
    for hpid in ("a1500002", "A" * 5000, "", "A1500002<x/>"):
        yield f"hpid {hpid[:12]}", _egen("<hvec>5</hvec>", hpid=hpid)
    laughs = '<!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
    yield "billion laughs", laughs.encode() + _egen("<hvec>&b;</hvec>")
    yield "external entity", b'<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>' + _egen("<hvec>&x;</hvec>")
    for encoding in ("x-nonsense", "utf-16", "utf-32", "cp037", "rot13", "idna", "zlib", "latin-1"):
        yield f"declared {encoding}", _egen(beds, declaration=f'<?xml version="1.0" encoding="{encoding}"?>')
    for bad in NOT_UTF8:
        yield f"not UTF-8 {bad!r}", _egen(f"<dutyName>@@</dutyName>{beds}").replace(b"@@", bad)
    yield "utf-16 document", _egen(beds).decode().encode("utf-16")
    yield "deep (5,000 levels)", _egen("<x>" * 5000 + "</x>" * 5000 + beds)
    yield "deep (100,000 levels, over 64 KiB)", _egen("<x>" * 100_000 + "</x>" * 100_000)
    yield (
        "many items",
        b"<response><body><items>"
        + b"".join(f"<item><hpid>A99{i:05d}</hpid><hvec>{i}</hvec></item>".encode() for i in range(1000))
        + b"</items></body></response>",
    )
    sample = SAMPLE.read_bytes()
    for at in range(1, len(sample), max(1, len(sample) // 40)):
        yield f"sample cut at {at}", sample[:at]
    for raw in (b"", b" ", b"\x00", b"<", b"<response/>", b"<html></html>", b"not xml", *NOT_JSON):
        yield f"odd {raw[:10]!r}", raw
    yield "error envelope", (b"<OpenAPI_ServiceResponse><cmmMsgHeader><returnReasonCode>30</returnReasonCode>"
                             b"</cmmMsgHeader></OpenAPI_ServiceResponse>")  # fmt: skip


def test_hostile_e_gen_imports_never_get_a_5xx(fuzz: Fuzz) -> None:
    """The import takes raw XML the OpenAPI schema does not describe: every hostile document,
    with each kind of token, gets a 2xx or a 4xx with a detail."""
    documents = list(hostile_egen())
    refused_with_valid_token = 0
    for _, body in documents:
        for token in ("valid", "centre", "wrong", "none"):
            response = fuzz.send("/import/egen", "POST", "/import/egen", token, content=body)
            refused_with_valid_token += token == "valid" and response.status_code >= 400
    fuzz.print("Capacity API, hand-written hostile E-Gen documents")
    assert fuzz.problems == [], fuzz.problems[:5]
    assert len(documents) >= 100 and refused_with_valid_token > len(documents) // 2
    _everything_accepted_still_works(fuzz)


def test_hostile_paths_queries_methods_and_headers_never_get_a_5xx(fuzz: Fuzz) -> None:
    """Odd identifiers, query values, methods and Authorization headers on every route."""
    routes = {
        "/health": "/health",
        "/hospitals": "/hospitals",
        "/hospitals/{hpid}": f"/hospitals/{JNUH}",
        "/hospitals/{hpid}/history": f"/hospitals/{JNUH}/history",
        "/hospitals/{hpid}/have.xml": f"/hospitals/{JNUH}/have.xml",
    }
    for bad in ("%00", "..", "A1500002%2F..", "x" * 5000, "전남", "A1500002%0A", "%FF", " ", "A1500002.json"):
        for template in ("/hospitals/{hpid}", "/hospitals/{hpid}/history", "/hospitals/{hpid}/have.xml"):
            fuzz.send(template, "GET", template.replace("{hpid}", bad), "valid")
    times = [t for t in BAD_TIMES if isinstance(t, str)] + ["9999-12-31T23:59:59+14:00", "x" * 5000, "%00"]
    for since in times:
        fuzz.send("/hospitals/{hpid}/history", "GET", routes["/hospitals/{hpid}/history"], "valid",
                  params={"since": since})  # fmt: skip
    for limit in ("0", "-1", "10001", str(10**30), "NaN", "Infinity", "1e308", "", "x", "1.5", "٣"):
        fuzz.send("/hospitals/{hpid}/history", "GET", routes["/hospitals/{hpid}/history"], "valid",
                  params={"limit": limit})  # fmt: skip
    for region in ("x" * 5000, "전남광주통합특별시", "\x00", "%", ""):
        fuzz.send("/hospitals", "GET", "/hospitals", "valid", params={"region": region})
    authorizations = ("Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer gt_" + "x" * 500, "bearer gt_x",
                      "Bearer gt_\u00e4".encode("latin-1"), "Bearer  gt_x", "gt_x",
                      "Bearer gt_x, Bearer gt_y")  # fmt: skip
    for route, url in routes.items():
        for authorization in authorizations:
            fuzz.send(route, "GET", url, "malformed", authorization=authorization)
        for method in ("PUT", "DELETE", "POST", "OPTIONS"):
            fuzz.send(route, method, url, "valid", content=b"{}")
    fuzz.send("/unknown", "GET", "/hospitals/A1500002/status", "valid")  # PATCH only
    fuzz.send("/unknown", "GET", "/nowhere", "valid")
    fuzz.send("/hospitals/{hpid}/status", "PATCH", f"/hospitals/{JNUH}/status", "valid",
              content=b'{"offload_minutes": 3}', headers={"Content-Length": "999999999999"})  # fmt: skip
    fuzz.print("Capacity API, hand-written hostile paths, queries, methods and headers")
    assert fuzz.problems == [], fuzz.problems[:5]
    _everything_accepted_still_works(fuzz)


# --- schemathesis, every check: the OpenAPI document is a contract -------------------------------------

#: Schemathesis' default for "valid data is accepted", plus 422 for the business rules JSON Schema
#: cannot state (available above total, an observation from the future, an expiry already past,
#: a text that is not an E-Gen document...). Such a 422 is allowed for valid data only as a rule
#: refusal (type ``value_error``), never as a type or shape error: :func:`_contract_kept` checks.
VALID_DATA_STATUSES = ["2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"]
CONFORMANCE = {
    "seed": 20,
    # the test sends each case with a token and without: the Authorization header is not generated
    "generation": {"max-examples": 60, "mode": "all", "deterministic": True, "with-security-parameters": False},
    "checks": {"positive_data_acceptance": {"expected-statuses": VALID_DATA_STATUSES}},
}


@dataclass
class Conformance:
    service: CapacityService
    token: str


class _AppUnderTest:
    """The ASGI app schemathesis sends to: each test puts its own (on its own store) in place."""

    def __init__(self) -> None:  # the OpenAPI document needs no store: this one is never opened
        self.app: Any = create_app(CapacityService(CapacityStore(sa.create_engine("sqlite://"))))

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


APP_UNDER_TEST = _AppUnderTest()


def _contract(*, at_a_centre: bool) -> OpenApiSchema:
    """Schemathesis over the app's OpenAPI document; path parameters pinned to a real centre, or
    generated (then mostly unknown: 404)."""
    config = dict(CONFORMANCE) | ({"parameters": {"hpid": JNUH}} if at_a_centre else {})
    return schemathesis.openapi.from_asgi("/openapi.json", APP_UNDER_TEST, config=SchemathesisConfig.from_dict(config))


AT_A_CENTRE = _contract(at_a_centre=True)
ANY_HPID = _contract(at_a_centre=False)


@pytest.fixture
def conformance(database_url: str) -> Iterator[Conformance]:
    """The app on ``database_url`` (SQLite, and PostgreSQL when configured), seeded with the
    Gwangju centres."""
    store = CapacityStore.open(database_url)
    service = CapacityService(store)
    service.seed([h for h in seed_rows(DATA) if h.hpid.startswith("A15")])
    previous, APP_UNDER_TEST.app = APP_UNDER_TEST.app, create_app(service)
    yield Conformance(service, service.create_token(None, "control room"))
    APP_UNDER_TEST.app = previous
    store.close()


def _contract_kept(ctx: Any, response: Any, case: schemathesis.Case[Any]) -> bool | None:
    """Our own rule on top of schemathesis': every 4xx carries a ``detail`` (a 422's naming the
    field), and valid data is refused only by a documented rule, never by a type or shape error."""
    status, content = response.status_code, response.content
    if status >= 400:
        problem = _detail_problem(status, content)
        assert problem is None, f"{problem}: {content[:300]!r}"
    if status == 422 and case.meta is not None and case.meta.generation.mode is GenerationMode.POSITIVE:
        kinds = {entry["type"] for entry in json.loads(content)["detail"]}
        assert kinds == {"value_error"}, f"valid data refused as malformed: {content[:300]!r}"
    return None


def _keeps_its_contract(case: schemathesis.Case[Any], conformance: Conformance) -> None:
    """``case`` with a valid control-room token, then with none; every check must pass."""
    for token in (conformance.token, None):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = case.call(headers=headers)
        case.validate_response(response, headers=headers, additional_checks=[_contract_kept])


#: The app and its store serve every case of an operation, as a real server would.
SHARED_APP = settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@AT_A_CENTRE.parametrize()
@SHARED_APP
def test_every_schemathesis_check_passes_at_a_real_centre(
    case: schemathesis.Case[Any], conformance: Conformance
) -> None:
    _keeps_its_contract(case, conformance)


@ANY_HPID.parametrize()
@SHARED_APP
def test_every_schemathesis_check_passes_for_any_hpid(case: schemathesis.Case[Any], conformance: Conformance) -> None:
    _keeps_its_contract(case, conformance)
