"""The capacity API through HTTP (FastAPI's TestClient), on SQLite and, in CI, PostgreSQL."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from goldentime.settings import default_data_dir
from hospital_capacity.api import MAX_BODY_BYTES, MAX_IMPORT_BYTES, create_app
from hospital_capacity.egen import KST
from hospital_capacity.service import CapacityService, seed_rows
from hospital_capacity.store import CapacityStore, updates
from tests.hospital_capacity.test_have import assert_valid

DATA = default_data_dir()
SAMPLE = DATA / "hospitals" / "nemc_samples" / "getEmrrmRltmUsefulSckbdInfoInqire_A1100015_20240926.xml"
JNUH = "A1500002"  # 전남대학교병원, Gwangju: regional centre and trauma centre
CHOSUN = "A1500001"  # 조선대학교병원


class Api:
    def __init__(self, service: CapacityService) -> None:
        self.service = service
        self.client = TestClient(create_app(service))
        self.control = service.create_token(None, "control room")
        self.jnuh = service.create_token(JNUH, "JNUH charge nurse")

    def call(self, method: str, path: str, token: str | None, **kw: Any) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return self.client.request(method, path, headers=headers, **kw)


@pytest.fixture
def api(database_url: str) -> Iterator[Api]:
    store = CapacityStore.open(database_url)
    service = CapacityService(store)
    service.seed(seed_rows(DATA))
    yield Api(service)
    store.close()


def test_seeded_from_the_e_gen_list_with_unknown_totals(api: Api) -> None:
    response = api.call("GET", "/hospitals", api.jnuh)
    assert response.status_code == 200
    hospitals = {h["hpid"]: h for h in response.json()}
    gwangju = [h for h in hospitals.values() if h["hpid"].startswith("A15")]
    assert len(gwangju) >= 24 and {JNUH, CHOSUN} <= set(hospitals)
    jnuh = hospitals[JNUH]
    assert jnuh["name"] == "전남대학교병원" and jnuh["level"] == 1 and jnuh["trauma_centre"] is True
    assert jnuh["status"]["beds"] == {} and jnuh["status"]["age_s"] is None  # nothing published yet: unknown


def test_a_centre_updates_itself_partially_and_every_part_keeps_its_time(api: Api) -> None:
    first = api.call(
        "PATCH",
        f"/hospitals/{JNUH}/status",
        api.jnuh,
        json={
            "beds": {"er_general": {"available": 3, "total": 30}},
            "equipment": {"ct": True},
            "observed_at": (datetime.now(UTC) - timedelta(hours=3)).isoformat(),
        },
    )
    assert first.status_code == 200, first.text
    observed = (datetime.now(UTC) - timedelta(hours=2)).isoformat()
    second = api.call(
        "PATCH",
        f"/hospitals/{JNUH}/status",
        api.jnuh,
        json={"beds": {"er_general": {"available": 1}}, "observed_at": observed},
    )
    status = second.json()["status"]
    assert status["beds"]["er_general"] == {
        "available": 1,
        "total": 30,
        "overcrowded": False,
        "updated_at": status["beds"]["er_general"]["updated_at"],
    }
    assert status["equipment"]["ct"]["available"] is True
    assert status["equipment"]["ct"]["updated_at"] != status["beds"]["er_general"]["updated_at"]
    assert status["updated_by"] == "JNUH charge nurse"
    assert status["age_s"] >= 7000  # observed two hours ago


def test_overcrowded_and_unknown_are_explicit(api: Api) -> None:
    response = api.call(
        "PATCH",
        f"/hospitals/{JNUH}/status",
        api.jnuh,
        json={"beds": {"er_general": {"overcrowded": True}, "icu": {"available": None, "total": 20}}},
    )
    beds = response.json()["status"]["beds"]
    assert beds["er_general"]["overcrowded"] is True and beds["er_general"]["available"] == 0
    assert beds["icu"]["available"] is None and beds["icu"]["total"] == 20


def test_auth_rules(api: Api) -> None:
    body = {"offload_minutes": 15}
    assert api.call("GET", "/hospitals", None).status_code == 401
    assert api.call("GET", "/hospitals", "gt_not-a-real-token").status_code == 401
    assert api.call("GET", "/hospitals", "Basic abc").status_code == 401
    other = api.call("PATCH", f"/hospitals/{CHOSUN}/status", api.jnuh, json=body)
    assert other.status_code == 403 and CHOSUN in other.json()["detail"]
    assert api.call("PATCH", f"/hospitals/{CHOSUN}/status", api.control, json=body).status_code == 200
    expired = api.service.create_token(JNUH, "old tablet", valid_days=1)
    api.service.clock = lambda: datetime.now(UTC) + timedelta(days=2)
    response = api.call("GET", "/hospitals", expired)
    assert response.status_code == 401 and "expired" in response.json()["detail"]
    assert api.call("GET", "/health", None).status_code == 200


def test_history_keeps_every_update_with_who_made_it(api: Api) -> None:
    start = datetime.now(UTC) - timedelta(seconds=1)
    for minutes in (5, 10, 20):
        assert api.call("PATCH", f"/hospitals/{JNUH}/status", api.jnuh, json={"offload_minutes": minutes}).is_success
    api.call(
        "PATCH",
        f"/hospitals/{JNUH}/status",
        api.control,
        json={"ems_traffic": {"status": "closed", "reason": "CT down"}},
    )
    history = api.call("GET", f"/hospitals/{JNUH}/history", api.jnuh, params={"since": start.isoformat()}).json()
    assert [h["update"].get("offload_minutes") for h in history] == [5, 10, 20, None]
    assert [h["updated_by"] for h in history] == ["JNUH charge nurse"] * 3 + ["control room"]
    assert history[-1]["update"]["ems_traffic"]["reason"] == "CT down"
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert api.call("GET", f"/hospitals/{JNUH}/history", api.jnuh, params={"since": future}).json() == []
    naive = api.call("GET", f"/hospitals/{JNUH}/history", api.jnuh, params={"since": "2026-01-01T00:00:00"})
    assert naive.status_code == 422


@pytest.mark.parametrize(
    ("body", "names"),
    [
        ({"beds": {"er_general": {"available": 40, "total": 30}}}, "greater than total"),
        ({"beds": {"er_general": {"available": 3}}, "colour": "red"}, "colour"),
        ({"beds": {"morgue": {"available": 3}}}, "morgue"),
        ({"beds": {"er_general": {"available": -1}}}, "available"),
        ({"ems_traffic": {"status": "closed"}}, "reason"),
        ({"offload_minutes": "soon"}, "offload_minutes"),
        ({"offload_minutes": "12"}, "offload_minutes"),  # a JSON string is not a number
        ({"equipment": {"ct": 1}}, "ct"),  # nor 1 a boolean
        ({"beds": {"icu": {"available": "3"}}}, "available"),
        ({"observed_at": 0}, "observed_at"),  # not seconds since 1970
        ({"observed_at": 1772355600}, "observed_at"),
        ({"offload_minutes": 3, "observed_at": "1999-12-31T23:59:59+09:00"}, "observed_at"),  # before 2000
        ({"offload_minutes": 3, "observed_at": "9999-12-31T00:00:00+00:00"}, "observed_at"),  # the future
        ({"ems_traffic": {"status": "closed", "reason": "CT 고장\u0000"}}, "reason"),  # NUL
        ({"ems_traffic": {"status": "closed", "reason": "CT\u001b[31m"}}, "reason"),  # ESC
        ({"ems_traffic": {"status": "closed", "reason": "CT\u0085"}}, "reason"),  # C1 control
        ({"ems_traffic": {"status": "closed", "reason": "   "}}, "reason"),
        (
            {"ems_traffic": {"status": "closed", "reason": "CT down", "expires_at": "2020-01-01T00:00:00+09:00"}},
            "expires_at",
        ),
    ],
)
def test_bad_bodies_get_a_422_naming_the_problem_and_change_nothing(api: Api, body: dict[str, Any], names: str) -> None:
    before = api.call("GET", f"/hospitals/{JNUH}", api.jnuh).json()
    response = api.call("PATCH", f"/hospitals/{JNUH}/status", api.jnuh, json=body)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert isinstance(detail, list) and all(entry["loc"][0] == "body" and entry["msg"] for entry in detail)
    assert names in json.dumps([(entry["loc"], entry["msg"]) for entry in detail], ensure_ascii=False), detail
    after = api.call("GET", f"/hospitals/{JNUH}", api.jnuh).json()
    assert after == before
    assert api.call("GET", f"/hospitals/{JNUH}/history", api.jnuh).json() == []


def test_available_above_the_stored_total_is_refused_with_a_list_naming_the_field(api: Api) -> None:
    api.call("PATCH", f"/hospitals/{JNUH}/status", api.jnuh, json={"beds": {"icu": {"available": 2, "total": 10}}})
    response = api.call("PATCH", f"/hospitals/{JNUH}/status", api.jnuh, json={"beds": {"icu": {"available": 12}}})
    assert response.status_code == 422
    [problem] = response.json()["detail"]
    assert problem["loc"] == ["body", "beds", "icu", "available"] and "greater than total 10" in problem["msg"]
    assert problem["type"] == "value_error"


def test_unknown_centre_and_huge_body(api: Api) -> None:
    assert api.call("GET", "/hospitals/A9999999", api.control).status_code == 404
    response = api.call("PATCH", "/hospitals/A9999999/status", api.control, json={"offload_minutes": 3})
    assert response.status_code == 404 and "A9999999" in response.json()["detail"]
    huge = {"beds": {}, "offload_minutes": 1, "pad": "x" * 70_000}
    assert api.call("PATCH", f"/hospitals/{JNUH}/status", api.jnuh, json=huge).status_code == 413


def stored_version(api: Api, hpid: str) -> int:
    row = api.service.store.hospital(hpid)
    assert row is not None
    return int(row["version"])


def test_an_empty_update_is_a_no_op_success(api: Api) -> None:
    """The schema makes every part optional, so ``{}`` is valid: it changes nothing, stores
    nothing, publishes nothing, and answers the current state."""
    api.call("PATCH", f"/hospitals/{JNUH}/status", api.jnuh, json={"offload_minutes": 12})
    before = api.call("GET", f"/hospitals/{JNUH}", api.jnuh).json()
    version = stored_version(api, JNUH)
    bodies: list[dict[str, Any]] = [
        {},
        {"beds": {}, "equipment": {}, "conditions": {}},
        {"observed_at": datetime.now(UTC).isoformat()},
    ]
    for body in bodies:
        response = api.call("PATCH", f"/hospitals/{JNUH}/status", api.jnuh, json=body)
        assert response.status_code == 200, response.text
        assert {**response.json(), "status": {**response.json()["status"], "age_s": None}} == {
            **before,
            "status": {**before["status"], "age_s": None},
        }
    assert stored_version(api, JNUH) == version
    assert len(api.call("GET", f"/hospitals/{JNUH}/history", api.jnuh).json()) == 1
    assert api.call("PATCH", f"/hospitals/{CHOSUN}/status", api.jnuh, json={}).status_code == 403
    assert api.call("PATCH", "/hospitals/A9999999/status", api.control, json={}).status_code == 404


@pytest.mark.parametrize("since", ["0.5", "0", "1772355600", "2026-01-01T00:00:00", "yesterday"])
def test_history_since_must_be_an_iso_time_with_a_zone(api: Api, since: str) -> None:
    response = api.call("GET", f"/hospitals/{JNUH}/history", api.jnuh, params={"since": since})
    assert response.status_code == 422
    assert [entry["loc"] for entry in response.json()["detail"]] == [["query", "since"]]


def test_a_closure_needs_an_expiry_in_the_future(api: Api) -> None:
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    body = {"ems_traffic": {"status": "closed", "reason": "CT 고장", "expires_at": past}}
    response = api.call("PATCH", f"/hospitals/{JNUH}/status", api.jnuh, json=body)
    assert response.status_code == 422
    assert [entry["loc"] for entry in response.json()["detail"]] == [["body", "ems_traffic", "expires_at"]]
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    body = {"ems_traffic": {"status": "closed", "reason": "CT 고장", "expires_at": future}}
    assert api.call("PATCH", f"/hospitals/{JNUH}/status", api.jnuh, json=body).status_code == 200


def test_a_nul_in_a_reason_is_refused_and_the_store_stays_queryable(api: Api) -> None:
    body = {"ems_traffic": {"status": "closed", "reason": "CT\u0000down"}}
    response = api.call("PATCH", f"/hospitals/{JNUH}/status", api.jnuh, json=body)
    assert response.status_code == 422 and "reason" in json.dumps(response.json()["detail"])
    ok = {"ems_traffic": {"status": "closed", "reason": "CT 고장 (복구 예정)"}}
    assert api.call("PATCH", f"/hospitals/{JNUH}/status", api.jnuh, json=ok).status_code == 200
    with api.service.store.engine.connect() as connection:  # PostgreSQL refused such rows in queries
        reasons = [str(row[0]) for row in connection.execute(sa.select(updates.c.body))]
    assert len(reasons) == 1 and "\\u0000" not in reasons[0] and "\x00" not in reasons[0]


# --- time: the newest observation wins; no observation from the future --------------------------------


def egen_beds(*items: tuple[str, datetime, str]) -> bytes:
    """An E-Gen real-time beds response: (hpid, hvidate, fields) per item."""
    body = "".join(
        f"<item><hpid>{hpid}</hpid>{fields}<hvidate>{at.astimezone(KST):%Y%m%d%H%M%S}</hvidate></item>"
        for hpid, at, fields in items
    )
    return (f"<response><header><resultCode>00</resultCode></header><body><items>{body}</items>"
            f"</body></response>").encode()  # fmt: skip


def test_the_newest_observation_wins_per_part_between_the_api_and_e_gen(api: Api) -> None:
    t = (datetime.now(UTC) - timedelta(minutes=10)).replace(microsecond=0)
    posted = {
        "beds": {"er_general": {"overcrowded": True, "total": 30}},
        "equipment": {"ct": False},
        "offload_minutes": 40,
        "observed_at": t.isoformat(),
    }
    assert api.call("PATCH", f"/hospitals/{JNUH}/status", api.jnuh, json=posted).status_code == 200
    api_state = api.call("GET", f"/hospitals/{JNUH}", api.jnuh).json()["status"]

    snapshot = "<hvec>6</hvec><hvs01>15</hvs01><hvctayn>Y</hvctayn>"
    older = api.call("POST", "/import/egen", api.control, content=egen_beds((JNUH, t - timedelta(hours=1), snapshot)))
    assert older.status_code == 200, older.text
    status = api.call("GET", f"/hospitals/{JNUH}", api.jnuh).json()["status"]
    assert status["beds"]["er_general"]["overcrowded"] is True
    assert {**status, "age_s": None} == {**api_state, "age_s": None}  # the API's values stay
    assert older.json()["kept_newer"] == {JNUH: ["beds.er_general", "equipment.ct"]}

    newer = egen_beds((JNUH, t + timedelta(minutes=1), "<hvec>4</hvec><hvs01>30</hvs01><hv28>1</hv28><hvs02>2</hvs02>"))
    response = api.call("POST", "/import/egen", api.control, content=newer)
    assert response.status_code == 200 and response.json()["kept_newer"] == {}
    status = api.call("GET", f"/hospitals/{JNUH}", api.jnuh).json()["status"]
    assert status["beds"]["er_general"]["available"] == 4 and status["beds"]["er_general"]["overcrowded"] is False
    assert status["beds"]["er_paediatric"]["available"] == 1
    assert datetime.fromisoformat(status["beds"]["er_general"]["updated_at"]) == t + timedelta(minutes=1)
    assert status["equipment"] == api_state["equipment"]  # not in that item: unchanged
    assert (status["offload_minutes"], status["offload_updated_at"]) == (40, api_state["offload_updated_at"])
    assert datetime.fromisoformat(status["updated_at"]) == t + timedelta(minutes=1)

    late = {"beds": {"er_general": {"available": 9}}, "observed_at": (t - timedelta(hours=2)).isoformat()}
    assert api.call("PATCH", f"/hospitals/{JNUH}/status", api.jnuh, json=late).status_code == 200
    assert api.call("GET", f"/hospitals/{JNUH}", api.jnuh).json()["status"]["beds"]["er_general"]["available"] == 4
    assert len(api.call("GET", f"/hospitals/{JNUH}/history", api.jnuh).json()) == 4  # every update is kept


def test_an_observation_from_the_future_is_refused_with_the_field_named(api: Api) -> None:
    now = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
    api.service.clock = lambda: now
    url = f"/hospitals/{JNUH}/status"
    for observed in ("9999-12-31T23:59:59+00:00", (now + timedelta(minutes=6)).isoformat()):
        response = api.call("PATCH", url, api.jnuh, json={"offload_minutes": 5, "observed_at": observed})
        assert response.status_code == 422, observed
        [problem] = response.json()["detail"]
        assert problem["loc"] == ["body", "observed_at"] and "future" in problem["msg"]
    within_skew = (now + timedelta(minutes=4)).isoformat()
    response = api.call("PATCH", url, api.jnuh, json={"offload_minutes": 5, "observed_at": within_skew})
    assert response.status_code == 200 and response.json()["status"]["age_s"] == 0
    assert len(api.call("GET", f"/hospitals/{JNUH}/history", api.jnuh).json()) == 1


def test_an_e_gen_item_from_the_future_is_refused_and_the_others_imported(api: Api) -> None:
    now = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
    api.service.clock = lambda: now
    document = egen_beds(
        (JNUH, datetime(2099, 1, 1, tzinfo=UTC), "<hvec>6</hvec><hvs01>15</hvs01>"),
        (CHOSUN, now - timedelta(minutes=3), "<hvec>2</hvec><hvs01>20</hvs01>"),
    )
    response = api.call("POST", "/import/egen", api.control, content=document)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["updated"] == [CHOSUN]
    [refusal] = result["refused"]
    assert refusal["hpid"] == JNUH and "hvidate" in refusal["reason"] and "future" in refusal["reason"]
    assert api.call("GET", f"/hospitals/{JNUH}", api.control).json()["status"]["beds"] == {}
    assert api.call("GET", f"/hospitals/{CHOSUN}", api.control).json()["status"]["beds"]["er_general"]["available"] == 2


# --- E-Gen ----------------------------------------------------------------------------------------


def test_an_ordinary_45_item_e_gen_page_over_64_kb_is_imported_and_2_mb_is_the_limit(api: Api) -> None:
    """45 items shaped as the real sample's (the live API's layout and fields), for known centres."""
    sample = SAMPLE.read_text(encoding="utf-8")
    start, end = sample.index("<item>"), sample.index("</item>") + len("</item>")
    at = f"{datetime.now(UTC).astimezone(KST) - timedelta(minutes=5):%Y%m%d%H%M%S}"
    centres = seed_rows(DATA)[:45]
    items = [
        re.sub(r"<hvidate>[0-9]+</hvidate>", f"<hvidate>{at}</hvidate>", sample[start:end])
        .replace("A1100015", h.hpid)
        .replace("연세대학교의과대학강남세브란스병원", h.name)
        for h in centres
    ]
    page = (sample[:start] + "".join(items) + sample[end:]).encode()
    assert len(page) > MAX_BODY_BYTES
    response = api.call("POST", "/import/egen", api.control, content=page)
    assert response.status_code == 200, response.text[:300]
    assert response.json()["updated"] == [h.hpid for h in centres]
    too_big = page + b" " * (MAX_IMPORT_BYTES - len(page) + 1)
    response = api.call("POST", "/import/egen", api.control, content=too_big)
    assert response.status_code == 413 and str(MAX_IMPORT_BYTES) in response.json()["detail"]


@pytest.mark.parametrize(
    ("body", "names"),
    [
        (b"this is not xml", "not XML"),
        (
            b"<OpenAPI_ServiceResponse><cmmMsgHeader><errMsg>SERVICE ERROR</errMsg>"
            b"<returnAuthMsg>SERVICE_KEY_IS_NOT_REGISTERED_ERROR</returnAuthMsg>"
            b"<returnReasonCode>30</returnReasonCode></cmmMsgHeader></OpenAPI_ServiceResponse>",
            "30",
        ),
    ],
)
def test_bad_e_gen_files_change_nothing(api: Api, body: bytes, names: str) -> None:
    before = api.call("GET", "/hospitals", api.control).json()
    response = api.call("POST", "/import/egen", api.control, content=body)
    assert response.status_code == 422
    [problem] = response.json()["detail"]
    assert problem["loc"] == ["body"] and names in problem["msg"]
    assert api.call("GET", "/hospitals", api.control).json() == before


def test_a_centre_token_cannot_import_for_others(api: Api) -> None:
    response = api.call("POST", "/import/egen", api.jnuh, content=SAMPLE.read_bytes())
    assert response.status_code == 403


def test_have_export(api: Api) -> None:
    api.call(
        "PATCH", f"/hospitals/{JNUH}/status", api.jnuh, json={"beds": {"er_general": {"available": 2, "total": 30}}}
    )
    response = api.call("GET", f"/hospitals/{JNUH}/have.xml", api.jnuh)
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/xml")
    assert b"urn:oasis:names:tc:emergency:EDXL:HAVE:1.0" in response.content and JNUH.encode() in response.content
    assert_valid(response.content)


def test_have_exports_of_one_centre_and_of_all_validate_against_the_oasis_schema(api: Api) -> None:
    """After start-up nearly every centre has never reported: each export must still be valid."""
    api.call("POST", "/import/egen", api.control, content=SAMPLE.read_bytes())  # one centre by E-Gen
    closing = {
        "status": "closed",
        "reason": "CT 고장",
        "expires_at": (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
    }
    api.call("PATCH", f"/hospitals/{JNUH}/status", api.jnuh, json={"ems_traffic": closing,
             "beds": {"er_general": {"overcrowded": True}}})  # fmt: skip
    api.call("PATCH", f"/hospitals/{CHOSUN}/status", api.control, json={"beds": {"icu": {"available": None}},
             "ems_traffic": {"status": "advisory", "reason": "소아 불가"}})  # fmt: skip
    for hpid in (JNUH, CHOSUN, "A1100015", "A1500004"):
        response = api.call("GET", f"/hospitals/{hpid}/have.xml", api.jnuh)
        assert response.status_code == 200
        assert_valid(response.content)
    every = api.call("GET", "/hospitals/have.xml", api.jnuh)
    assert every.status_code == 200 and every.headers["content-type"].startswith("application/xml")
    assert_valid(every.content)
    assert every.content.count(b"<have:Hospital>") == len(seed_rows(DATA))
    assert every.content.count(b"never reported: LastUpdateTime") == len(seed_rows(DATA)) - 3
    region = api.call("GET", "/hospitals/have.xml", api.jnuh, params={"region": "전남광주통합특별시"})
    assert region.status_code == 200 and 20 <= region.content.count(b"<have:Hospital>") < len(seed_rows(DATA))
    assert_valid(region.content)
    nowhere = api.call("GET", "/hospitals/have.xml", api.jnuh, params={"region": "nowhere"})
    assert nowhere.status_code == 404 and "nowhere" in nowhere.json()["detail"]
    assert api.call("GET", "/hospitals/have.xml", None).status_code == 401


# --- the OpenAPI document says what the API answers ------------------------------------------------------


def test_the_openapi_document_lists_every_status_and_the_import_body(api: Api) -> None:
    paths = api.client.get("/openapi.json").json()["paths"]
    declared = {
        (method.upper(), path): set(op["responses"]) for path, ops in paths.items() for method, op in ops.items()
    }
    assert declared[("POST", "/import/egen")] >= {"200", "401", "403", "413", "422"}
    assert declared[("PATCH", "/hospitals/{hpid}/status")] >= {"200", "401", "403", "404", "413", "422"}
    answer = ("POST", "/hospitals/{hpid}/requests/{request_id}/answer")
    assert declared[answer] >= {"202", "401", "403", "404", "413", "422"} and "200" not in declared[answer]
    for route in ("/hospitals/{hpid}", "/hospitals/{hpid}/history", "/hospitals/{hpid}/have.xml"):
        assert declared[("GET", route)] >= {"200", "401", "404", "422"}, route
    body = paths["/import/egen"]["post"]["requestBody"]
    assert body["required"] is True and "application/xml" in body["content"]
    example = body["content"]["application/xml"]["example"].encode()  # the document's own example works
    response = api.call("POST", "/import/egen", api.control, content=example)
    assert response.status_code == 200 and response.json()["updated"] == [JNUH], response.text
    assert "application/xml" in paths["/hospitals/{hpid}/have.xml"]["get"]["responses"]["200"]["content"]
    import_422 = paths["/import/egen"]["post"]["responses"]["422"]["content"]["application/json"]["schema"]
    assert import_422 == {"$ref": "#/components/schemas/ValidationProblems"}


# --- fuzzing the API: whatever comes in, never a 5xx ---------------------------------------------

_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)
_keys = st.sampled_from(["beds", "equipment", "conditions", "ems_traffic", "offload_minutes", "observed_at", "x"])
_bodies = st.dictionaries(_keys, _json, max_size=4) | _json


@pytest.fixture
def fuzz_api(tmp_path: Path) -> Iterator[Api]:
    store = CapacityStore.open(f"sqlite:///{tmp_path / 'fuzz.sqlite3'}")
    service = CapacityService(store)
    service.seed([h for h in seed_rows(DATA) if h.hpid.startswith("A15")])
    yield Api(service)
    store.close()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=_bodies, hpid=st.sampled_from([JNUH, CHOSUN, "A9999999", "x" * 40, "%00", "A1500002/../A1500001"]))
def test_fuzzed_status_updates_never_give_a_5xx(fuzz_api: Api, body: Any, hpid: str) -> None:
    response = fuzz_api.call("PATCH", f"/hospitals/{hpid}/status", fuzz_api.jnuh, json=body)
    assert response.status_code < 500, response.text


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    path=st.sampled_from(
        ["/hospitals", f"/hospitals/{JNUH}", f"/hospitals/{JNUH}/history", f"/hospitals/{JNUH}/have.xml"]
    ),
    params=st.dictionaries(st.sampled_from(["since", "limit", "region", "q"]), st.text(max_size=30), max_size=3),
    # header values are ASCII on the wire
    token=st.one_of(
        st.none(), st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=60), st.just("valid")
    ),
)
def test_fuzzed_reads_never_give_a_5xx(fuzz_api: Api, path: str, params: dict[str, str], token: str | None) -> None:
    response = fuzz_api.call("GET", path, fuzz_api.jnuh if token == "valid" else token, params=params)
    assert response.status_code < 500, response.text


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.binary(max_size=2000) | st.text(max_size=500).map(str.encode))
def test_fuzzed_e_gen_imports_never_give_a_5xx(fuzz_api: Api, body: bytes) -> None:
    response = fuzz_api.call("POST", "/import/egen", fuzz_api.control, content=body)
    assert response.status_code < 500, response.text


# --- answers to transfer requests (the acceptance handshake) -----------------------------------------


def answer_url(hpid: str = JNUH, request_id: str = "R-0001") -> str:
    return f"/hospitals/{hpid}/requests/{request_id}/answer"


def test_a_centre_accepts_a_request_and_the_answer_waits_for_the_broker(api: Api) -> None:
    now = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
    api.service.clock = lambda: now
    response = api.call("POST", answer_url(), api.jnuh, json={"answer": "accept"})
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["schema"] == "ems.answer/1" and body["request_id"] == "R-0001" and body["answer"] == "accept"
    assert body["reason"] is None and body["text"] is None
    assert body["answered_by"] == "JNUH charge nurse"  # the token's label when the body names nobody
    assert datetime.fromisoformat(body["ts"]) == now
    [(hpid, waiting)] = api.service.answers_waiting()
    assert hpid == JNUH and waiting.model_dump(mode="json", by_alias=True) == body  # what the publisher sends
    assert api.service.changed.is_set()  # the publisher wakes up at once


def test_a_decline_carries_its_coded_reason_words_and_who_answered(api: Api) -> None:
    body = {
        "answer": "decline",
        "reason": "no_specialist",
        "text": " 흉부외과 전문의 수술 중 ",
        "answered_by": "김간호사",
    }
    response = api.call("POST", answer_url(request_id="R-7.b_2"), api.jnuh, json=body)
    assert response.status_code == 202, response.text
    answer = response.json()
    assert (answer["answer"], answer["reason"], answer["answered_by"]) == ("decline", "no_specialist", "김간호사")
    assert answer["text"] == "흉부외과 전문의 수술 중"  # spaces around it dropped
    seen = api.call("POST", answer_url(request_id="R-0002"), api.jnuh, json={"answer": "seen"})
    assert seen.status_code == 202 and seen.json()["answer"] == "seen"
    assert [(h, a.request_id, a.answer.value) for h, a in api.service.answers_waiting()] == [
        (JNUH, "R-7.b_2", "decline"),
        (JNUH, "R-0002", "seen"),
    ]


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"answer": "decline"}, "reason", "a decline needs a reason: no_bed, no_specialist, no_equipment or other"),
        ({"answer": "decline", "reason": None}, "reason", "a decline needs a reason"),
        ({"answer": "accept", "reason": "no_bed"}, "reason", "only a decline has a reason (answer is accept)"),
        ({"answer": "decline", "reason": "tired"}, "reason", "no_bed"),
        ({"answer": "maybe"}, "answer", "accept"),
        ({}, "answer", "Field required"),
        ({"answer": "accept", "text": "   "}, "text", "blank"),
        ({"answer": "accept", "text": "x" * 301}, "text", "300"),
        ({"answer": "accept", "text": "병상\u0000"}, "text", "pattern"),
        ({"answer": "accept", "answered_by": ""}, "answered_by", "at least 1"),
        ({"answer": "accept", "colour": "red"}, "colour", "Extra inputs"),
    ],
)
def test_a_bad_answer_gets_a_422_naming_the_field_and_nothing_is_sent(
    api: Api, body: dict[str, Any], field: str, words: str
) -> None:
    response = api.call("POST", answer_url(), api.jnuh, json=body)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert [entry["loc"] for entry in detail] == [["body", field]], detail
    assert words in detail[0]["msg"], detail
    assert api.service.answers_waiting() == []


def test_only_the_centre_itself_or_the_control_room_answers_its_requests(api: Api) -> None:
    accept = {"answer": "accept"}
    assert api.call("POST", answer_url(), None, json=accept).status_code == 401
    assert api.call("POST", answer_url(), "gt_not-a-real-token", json=accept).status_code == 401
    other = api.call("POST", answer_url(CHOSUN), api.jnuh, json=accept)
    assert other.status_code == 403 and CHOSUN in other.json()["detail"] and JNUH in other.json()["detail"]
    unknown = api.call("POST", answer_url("A9999999"), api.control, json=accept)
    assert unknown.status_code == 404 and unknown.json()["detail"] == "no emergency centre with hpid 'A9999999'"
    assert api.call("POST", answer_url("A9999999"), api.jnuh, json=accept).status_code == 403  # as PATCH status
    assert api.service.answers_waiting() == []
    by_control = api.call("POST", answer_url(CHOSUN), api.control, json=accept)  # e.g. after a phone call
    assert by_control.status_code == 202 and by_control.json()["answered_by"] == "control room"
    assert [h for h, _ in api.service.answers_waiting()] == [CHOSUN]


def test_a_request_id_outside_the_contract_is_a_422_naming_it(api: Api) -> None:
    response = api.call("POST", answer_url(request_id="-bad"), api.jnuh, json={"answer": "accept"})
    assert response.status_code == 422
    assert [entry["loc"] for entry in response.json()["detail"]] == [["path", "request_id"]]
    too_long = api.call("POST", answer_url(request_id="R" * 65), api.jnuh, json={"answer": "accept"})
    assert too_long.status_code == 422 and api.service.answers_waiting() == []


def test_answers_waiting_for_a_broker_that_stays_away_are_bounded(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("hospital_capacity.service.MAX_ANSWERS_WAITING", 3)
    for n in range(5):
        assert api.call("POST", answer_url(request_id=f"R-{n}"), api.jnuh, json={"answer": "seen"}).status_code == 202
    assert [a.request_id for _, a in api.service.answers_waiting()] == ["R-2", "R-3", "R-4"]  # the newest kept
    api.service.answers_sent([a.msg_id for _, a in api.service.answers_waiting()[:2]])
    assert [a.request_id for _, a in api.service.answers_waiting()] == ["R-4"]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=st.dictionaries(st.sampled_from(["answer", "reason", "text", "answered_by", "x"]), _json, max_size=4) | _json,
    request_id=st.sampled_from(["R-1", "%00", "x" * 80, "R/../S", "요청"]),
)
def test_fuzzed_answers_never_give_a_5xx(fuzz_api: Api, body: Any, request_id: str) -> None:
    response = fuzz_api.call("POST", answer_url(request_id=request_id), fuzz_api.jnuh, json=body)
    assert response.status_code < 500, response.text
