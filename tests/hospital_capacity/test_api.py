"""The capacity API through HTTP (FastAPI's TestClient), on SQLite and, in CI, PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from goldentime.settings import default_data_dir
from hospital_capacity.api import create_app
from hospital_capacity.service import CapacityService, seed_rows
from hospital_capacity.store import CapacityStore

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
        json={"beds": {"er_general": {"available": 3, "total": 30}}, "equipment": {"ct": True}},
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
        ({}, "changes nothing"),
        ({"offload_minutes": "soon"}, "offload_minutes"),
    ],
)
def test_bad_bodies_get_a_422_naming_the_problem_and_change_nothing(api: Api, body: dict[str, Any], names: str) -> None:
    before = api.call("GET", f"/hospitals/{JNUH}", api.jnuh).json()
    response = api.call("PATCH", f"/hospitals/{JNUH}/status", api.jnuh, json=body)
    assert response.status_code == 422
    assert names in json.dumps(response.json(), ensure_ascii=False)
    after = api.call("GET", f"/hospitals/{JNUH}", api.jnuh).json()
    assert after == before


def test_available_above_the_stored_total_is_refused(api: Api) -> None:
    api.call("PATCH", f"/hospitals/{JNUH}/status", api.jnuh, json={"beds": {"icu": {"available": 2, "total": 10}}})
    response = api.call("PATCH", f"/hospitals/{JNUH}/status", api.jnuh, json={"beds": {"icu": {"available": 12}}})
    assert response.status_code == 422 and "greater than total 10" in response.json()["detail"]


def test_unknown_centre_and_huge_body(api: Api) -> None:
    assert api.call("GET", "/hospitals/A9999999", api.control).status_code == 404
    response = api.call("PATCH", "/hospitals/A9999999/status", api.control, json={"offload_minutes": 3})
    assert response.status_code == 404 and "A9999999" in response.json()["detail"]
    huge = {"beds": {}, "offload_minutes": 1, "pad": "x" * 70_000}
    assert api.call("PATCH", f"/hospitals/{JNUH}/status", api.jnuh, json=huge).status_code == 413


def test_e_gen_import_of_the_real_sample(api: Api) -> None:
    response = api.call("POST", "/import/egen", api.control, content=SAMPLE.read_bytes())
    assert response.status_code == 200, response.text
    assert response.json() == {"updated": ["A1100015"], "unknown_hpids": [], "operation": "beds"}
    status = api.call("GET", "/hospitals/A1100015", api.control).json()["status"]
    assert status["beds"]["er_general"]["available"] == 6 and status["beds"]["er_general"]["total"] == 15
    assert status["equipment"]["ct"]["available"] is True
    assert status["beds"]["er_general"]["updated_at"].startswith("2024-09-26T11:42:23")


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
    assert response.status_code == 422 and names in response.json()["detail"]
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
