"""The ``goldentime`` command line, driven the way a user types it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import networkx as nx
import pytest

from tests.helpers import run_cli


@pytest.fixture(autouse=True)
def local_state(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """One var/ directory for the whole module (so the road cache is built once), never ./var."""
    var = tmp_path_factory.getbasetemp() / "cli-var"
    monkeypatch.setenv("GOLDENTIME_VAR_DIR", str(var))
    for name in ("GOLDENTIME_MQTT_URL", "GOLDENTIME_DATABASE_URL", "GOLDENTIME_SCENARIO"):
        monkeypatch.delenv(name, raising=False)
    return var


run = run_cli


def test_bad_arguments_get_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["bogus"], ["eta", "95", "127"], ["eta", "37.5", "east"], ["broker", "--port", "99999"]):
        code, _, err = run(capsys, *argv)
        assert code == 2
        assert len(err.strip().splitlines()) == 1, err
        assert "error" in err


def test_a_bad_setting_names_the_variable(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOLDENTIME_RECORDER_BATCH_SIZE", "0")
    code, _, err = run(capsys, "data", "check")
    assert code == 2
    assert err.strip().startswith("goldentime: error: GOLDENTIME_RECORDER_BATCH_SIZE")


def test_eta_on_real_roads_lists_every_centre_fastest_first(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "eta", "37.5704", "126.9921")  # 종로3가, central Seoul
    assert code == 0
    assert "exact, on the road graph" in out
    ranked = [line for line in out.splitlines() if line.strip()[:2].rstrip(".").isdigit()]
    assert len(ranked) == 5  # 세브란스 is off the graph (reported as left out); the dental ER is excluded
    assert "left out: centre 연세대학교의과대학세브란스병원" in out

    code, out, _ = run(capsys, "eta", "37.5704", "126.9921", "--json")
    data = json.loads(out)
    seconds = [c["eta_s"] for c in data["centres"]]
    assert seconds == sorted(seconds) and data["eta_mode"] == "road"
    assert {c["hpid"] for c in data["centres"]} >= {"A1100017", "A1100052"}


def test_eta_far_from_the_roads_is_one_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "eta", "37.7", "126.9")
    assert code == 2 and out == ""
    assert "m from the nearest road" in err and "limit 500 m" in err


def test_eta_without_a_road_graph_says_approximate(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "eta", "--scenario", "gwangju", "35.1595", "126.8526")
    assert code == 0
    assert "APPROXIMATE" in out
    assert out.count("~") == 24  # every one of the 24 centres is marked approximate
    code, out, _ = run(capsys, "eta", "--scenario", "gwangju", "35.1595", "126.8526", "--json")
    assert {c["eta_mode"] for c in json.loads(out)["centres"]} == {"approximate"}


def test_data_check_reports_the_scenarios(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "data", "check")
    assert code == 0
    assert "seoul-central  6 centres" in out and "complete, exact road ETAs (default)" in out
    assert "gwangju" in out and "approximate ETAs: road graph roads/gwangju_drive.graphml is missing" in out


def test_data_fetch_saves_what_osmnx_builds(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import osmnx

    asked: list[tuple[str, Any]] = []

    def fake_graph_from_place(place: str, network_type: str) -> nx.MultiDiGraph:
        asked.append((place, network_type))
        graph = nx.MultiDiGraph(crs="epsg:4326")
        graph.add_node(1, x=126.85, y=35.15)
        graph.add_node(2, x=126.86, y=35.15)
        graph.add_edge(1, 2, length=900.0, highway="primary")
        return graph

    monkeypatch.setattr(osmnx, "graph_from_place", fake_graph_from_place)
    out_file = tmp_path / "gwangju_drive.graphml"
    code, out, _ = run(capsys, "data", "fetch", "roads", "--place", "Gwangju, South Korea", "--out", str(out_file))
    assert code == 0 and out_file.exists()
    assert asked == [("Gwangju, South Korea", "drive")]
    assert "2 nodes, 1 edges" in out
    assert osmnx.load_graphml(out_file).number_of_edges() == 1

    code, _, err = run(capsys, "data", "fetch", "roads", "--place", "Gwangju, South Korea", "--out", str(out_file))
    assert code == 2 and "exists" in err


def test_data_fetch_offline_fails_in_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import osmnx

    def offline(place: str, network_type: str) -> nx.MultiDiGraph:
        raise ConnectionError("Failed to resolve 'nominatim.openstreetmap.org'")

    monkeypatch.setattr(osmnx, "graph_from_place", offline)
    code, _, err = run(capsys, "data", "fetch", "roads", "--place", "Gwangju", "--out", str(tmp_path / "g.graphml"))
    assert code == 1
    assert len(err.strip().splitlines()) == 1 and "nominatim" in err


def test_broker_and_recorder_run_and_stop(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "broker", "--seconds", "0.5")
    assert code == 0 and "embedded MQTT broker listening on mqtt://127.0.0.1:" in out
    code, out, _ = run(capsys, "recorder", "--seconds", "0.5")
    assert code == 0
    assert "recorder: ems/# on mqtt://127.0.0.1:" in out and "0 messages stored" in out
