"""The dashboard's capacity client against the real capacity API served by uvicorn on loopback:
what a charge nurse would see for a good token, a wrong one, a bad value and a dead API."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import uvicorn

from dashboard import capacity_client
from hospital_capacity.api import create_app
from hospital_capacity.schemas import HospitalCreate
from hospital_capacity.service import CapacityService
from hospital_capacity.store import CapacityStore
from telemetry.schemas import BedType, Condition
from tests.helpers import wait_until

ER = BedType.ER_GENERAL
STEMI = Condition.STEMI_PCI
JNUH = "A1500002"  # 전남대학교병원, Gwangju
CHOSUN = "A1500001"  # 조선대학교병원


@dataclass(frozen=True)
class RunningApi:
    url: str
    service: CapacityService


@contextmanager
def running_api(service: CapacityService) -> Iterator[RunningApi]:
    """The capacity API on a free loopback port (the socket is bound first, so no port race)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(service), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="test-capacity-api", daemon=True)
    thread.start()
    try:
        assert wait_until(lambda: server.started), "uvicorn did not start"
        yield RunningApi(f"http://127.0.0.1:{port}", service)
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def open_service(tmp_path: Path, hospitals: list[HospitalCreate]) -> CapacityService:
    service = CapacityService(CapacityStore.open(f"sqlite:///{tmp_path / 'capacity.sqlite3'}"))
    service.seed(hospitals)
    return service


@pytest.fixture
def api(tmp_path: Path) -> Iterator[RunningApi]:
    service = open_service(
        tmp_path,
        [
            HospitalCreate(hpid=JNUH, name="전남대학교병원", level=1, lat=35.142, lon=126.921, trauma_centre=True),
            HospitalCreate(hpid=CHOSUN, name="조선대학교병원", level=1, lat=35.139, lon=126.934),
        ],
    )
    with running_api(service) as running:
        yield running
    service.store.close()


def test_a_good_token_updates_the_beds_and_the_api_then_shows_them(api: RunningApi) -> None:
    token = api.service.create_token(JNUH, "JNUH charge nurse")
    body = {"beds": {"er_general": {"available": 6, "total": 30}}, "conditions": {"stemi_pci": True}}
    result = capacity_client.update_status(api.url, JNUH, token, body)
    assert result.ok and result.status == 200 and result.detail == ""
    assert result.hospital is not None and result.hospital["status"]["beds"]["er_general"]["available"] == 6
    fetched = capacity_client.get_hospital(api.url, JNUH, token)
    assert fetched.ok and fetched.hospital is not None
    status = fetched.hospital["status"]
    assert (status["beds"]["er_general"]["available"], status["beds"]["er_general"]["total"]) == (6, 30)
    assert status["conditions"]["stemi_pci"]["available"] is True and status["updated_by"] == "JNUH charge nurse"
    report = fetched.report()  # the shape the live feed holds, so the page fills its form from either
    assert report is not None and report.beds[ER].available == 6 and report.conditions[STEMI].available is True
    assert report.updated_by == "JNUH charge nurse"  # signed, as the API publishes it (not the live city's)
    assert report.updated_at.isoformat() == status["updated_at"].replace("Z", "+00:00")


def test_a_centre_that_never_reported_has_no_report(api: RunningApi) -> None:
    token = api.service.create_token(CHOSUN, "Chosun charge nurse")
    fetched = capacity_client.get_hospital(api.url, CHOSUN, token)
    assert fetched.ok and fetched.hospital is not None and fetched.hospital["name"] == "조선대학교병원"
    assert fetched.report() is None
    assert capacity_client.get_hospital(api.url, CHOSUN, "gt_wrong").report() is None


def test_a_wrong_token_is_refused_with_the_apis_words(api: RunningApi) -> None:
    body = {"beds": {"er_general": {"available": 1}}}
    unknown = capacity_client.update_status(api.url, JNUH, "gt_not-a-real-token", body)
    assert (unknown.ok, unknown.status, unknown.detail) == (False, 401, "unknown token")
    other_centre = api.service.create_token(CHOSUN, "Chosun charge nurse")
    forbidden = capacity_client.update_status(api.url, JNUH, other_centre, body)
    assert (forbidden.ok, forbidden.status) == (False, 403)
    assert CHOSUN in forbidden.detail and JNUH in forbidden.detail
    pasted_badly = capacity_client.update_status(api.url, JNUH, "gt_토큰\n", body)  # never reaches a header
    assert (pasted_badly.ok, pasted_badly.status) == (False, 401) and "paste it again" in pasted_badly.detail
    assert api.service.hospital(JNUH).status.beds == {}  # nothing stored


def test_a_bad_body_gets_a_422_that_names_the_field(api: RunningApi) -> None:
    token = api.service.create_token(JNUH, "JNUH charge nurse")
    negative = capacity_client.update_status(api.url, JNUH, token, {"beds": {"er_general": {"available": -2}}})
    assert (negative.ok, negative.status) == (False, 422)
    assert negative.detail.startswith("beds.er_general.available: ") and "greater than or equal to 0" in negative.detail
    closed = capacity_client.update_status(api.url, JNUH, token, {"ems_traffic": {"status": "closed"}})
    assert closed.status == 422 and closed.detail.startswith("ems_traffic: ") and "needs a reason" in closed.detail
    assert negative.problems == (
        capacity_client.Problem(
            "beds.er_general.available", "greater_than_equal", "Input should be greater than or equal to 0", {"ge": 0}
        ),
    )
    huge = capacity_client.update_status(api.url, JNUH, token, {"beds": {"er_general": {"total": 100_000}}})
    [too_many] = huge.problems
    assert (too_many.field, too_many.kind, too_many.limits) == (
        "beds.er_general.total",
        "less_than_equal",
        {"le": 10_000},
    )
    assert [(p.field, p.kind) for p in closed.problems] == [("ems_traffic", "value_error")]
    assert "needs a reason" in closed.problems[0].message and closed.fields == ("ems_traffic",)
    body = {
        "beds": {"er_general": {"available": 5, "total": 3}},
        "ems_traffic": {"status": "closed", "reason": "x\u0007"},
    }
    both = capacity_client.update_status(api.url, JNUH, token, body)
    assert [(p.field, p.kind) for p in both.problems] == [
        ("beds.er_general", "value_error"),
        ("ems_traffic.reason", "string_pattern_mismatch"),
    ]
    empty = capacity_client.update_status(api.url, JNUH, token, {})  # valid by the schema: a no-op
    assert (empty.ok, empty.status) == (True, 200) and api.service.hospital(JNUH).status.updated_at is None


def test_a_token_pasted_with_spaces_around_it_works(api: RunningApi) -> None:
    token = api.service.create_token(JNUH, "JNUH charge nurse")
    result = capacity_client.update_status(api.url, JNUH, f"  {token}\n", {"beds": {"er_general": {"available": 2}}})
    assert result.ok and api.service.hospital(JNUH).status.beds[ER].available == 2


class _WebPage(BaseHTTPRequestHandler):
    """Any web server that is not the capacity API (a dashboard URL given by mistake)."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(b"<html>GoldenTime</html>")

    def log_message(self, format: str, *args: object) -> None:  # quiet in test output
        return


def test_a_web_page_instead_of_the_api_is_said() -> None:
    with ThreadingHTTPServer(("127.0.0.1", 0), _WebPage) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        url = f"http://127.0.0.1:{server.server_address[1]}"
        result = capacity_client.get_hospital(url, JNUH, "gt_token")
        server.shutdown()
    assert (result.ok, result.status, result.report()) == (False, 200, None)
    assert result.detail == f"{url}/hospitals/{JNUH} answered, but not as the capacity API does"


def test_nothing_listening_is_a_clear_connection_error() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"  # bound, never listening: connections are refused
        result = capacity_client.update_status(url, JNUH, "gt_token", {"beds": {"er_general": {"available": 1}}})
    assert (result.ok, result.status, result.hospital) == (False, None, None)
    assert result.detail == f"cannot connect to the capacity API at {url}: connection refused"


# --- answers to transfer requests -----------------------------------------------------------------


def test_an_answer_is_posted_and_the_published_answer_comes_back(api: RunningApi) -> None:
    token = api.service.create_token(JNUH, "JNUH charge nurse")
    accepted = capacity_client.answer_request(api.url, JNUH, "R-1", token, {"answer": "accept"})
    assert (accepted.ok, accepted.status, accepted.detail, accepted.fields) == (True, 202, "", ())
    assert accepted.hospital is None and accepted.answer is not None
    assert accepted.answer["schema"] == "ems.answer/1" and accepted.answer["answer"] == "accept"
    assert accepted.answer["answered_by"] == "JNUH charge nurse"
    body = {"answer": "decline", "reason": "no_equipment", "text": "CT 고장", "answered_by": "박간호사"}
    declined = capacity_client.answer_request(api.url, JNUH, "R-2", f" {token}\n", body)
    assert declined.ok and declined.answer is not None
    assert {k: declined.answer[k] for k in body} == body
    waiting = [(hpid, a.request_id, a.answer.value) for hpid, a in api.service.answers_waiting()]
    assert waiting == [(JNUH, "R-1", "accept"), (JNUH, "R-2", "decline")]  # for the publisher


def test_a_refused_answer_names_the_fields_and_sends_nothing(api: RunningApi) -> None:
    token = api.service.create_token(JNUH, "JNUH charge nurse")
    no_reason = capacity_client.answer_request(api.url, JNUH, "R-1", token, {"answer": "decline"})
    assert (no_reason.ok, no_reason.status, no_reason.fields) == (False, 422, ("reason",))
    assert no_reason.detail.startswith("reason: ") and "needs a reason" in no_reason.detail
    both = capacity_client.answer_request(api.url, JNUH, "R 1", token, {"answer": "accept", "text": " ", "by": "x"})
    assert both.status == 422 and set(both.fields) == {"request_id", "text", "by"}
    other = capacity_client.answer_request(api.url, CHOSUN, "R-1", token, {"answer": "accept"})
    assert (other.ok, other.status, other.fields) == (False, 403, ()) and CHOSUN in other.detail
    unknown = capacity_client.answer_request(api.url, "A9999999", "R-1", token, {"answer": "accept"})
    assert unknown.status == 403  # a centre's token: another centre's, whether it exists or not
    control = api.service.create_token(None, "control room")
    unknown = capacity_client.answer_request(api.url, "A9999999", "R-1", control, {"answer": "accept"})
    assert (unknown.status, unknown.detail) == (404, "no emergency centre with hpid 'A9999999'")
    wrong = capacity_client.answer_request(api.url, JNUH, "R-1", "gt_wrong", {"answer": "accept"})
    assert (wrong.status, wrong.detail) == (401, "unknown token")
    assert api.service.answers_waiting() == []


def test_an_answer_to_a_dead_api_is_a_clear_connection_error() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        result = capacity_client.answer_request(url, JNUH, "R-1", "gt_token", {"answer": "accept"})
    assert (result.ok, result.status, result.answer, result.fields) == (False, None, None, ())
    assert result.detail == f"cannot connect to the capacity API at {url}: connection refused"
