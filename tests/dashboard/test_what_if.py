"""The what-if page as a planner uses it: Korean by default, one click runs the simulator, bad input says why.

Runs are one simulated day, one seed, on seoul-central (the scenario with a road graph, 40 calls a day): a
few seconds each. The settings point ``var`` at the test's own folder, so nothing lands in the checkout.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from goldentime.settings import Settings
from goldentime.simulate import ALL_POLICIES
from tests.goldentime.test_simulate import simulated_centres

PAGE = str(Path(__file__).resolve().parents[2] / "dashboard" / "pages" / "what_if.py")


@pytest.fixture(autouse=True)
def _own_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Fresh settings for each test (they are cached for the process), with var in tmp_path."""
    monkeypatch.setenv("GOLDENTIME_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("GOLDENTIME_SCENARIO", "seoul-central")
    st.cache_resource.clear()
    yield
    st.cache_resource.clear()


def _page() -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    assert not at.exception, at.exception
    return at


def _run(at: AppTest) -> AppTest:
    at.button(key="what_if_run").click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    return at


def test_the_page_speaks_korean_by_default_and_english_when_switched() -> None:
    at = _page()
    assert at.title[0].value == "가상 실험"
    assert at.button(key="what_if_run").label == "▶ 실행"
    assert at.selectbox(key="what_if_scenario").value == "seoul-central"
    assert at.slider(key="what_if_days").value == 1
    assert not at.warning  # seoul-central has its road graph
    assert at.multiselect(key="what_if_policies").value == list(ALL_POLICIES)
    at.sidebar.toggle(key="english").set_value(True).run()
    assert not at.exception, at.exception
    assert at.title[0].value == "What-if"
    assert at.button(key="what_if_run").label == "▶ Run"
    assert at.slider(key="what_if_days").label == "Simulated days"


def test_run_shows_every_policy_s_kpis_the_plots_and_the_command_and_keeps_them(tmp_path: Path) -> None:
    at = _page()
    at.multiselect(key="what_if_close_seoul-central").set_value(["A1100017"]).run()
    at = _run(at)
    table = at.dataframe[0].value
    assert list(table.columns) == list(ALL_POLICIES)
    assert "119 출동 건수" in table.index
    assert not [label for label in table.index if "_" in label], "a metric is shown by its code name"
    assert len(at.image) == 4
    command = at.code[0].value
    assert command.startswith("goldentime simulate --scenario=seoul-central --days=1 --seeds=1 --first-seed=1")
    (kpis,) = (tmp_path / "var" / "what-if").glob("*/kpis.csv")
    assert f"--close=A1100017 --out={kpis.parent}" in command
    written = {(r["policy"], r["metric"]): float(r["value"]) for r in csv.DictReader(kpis.open())}
    assert table.loc["119 출동 건수", "nearest"] == f"{written['nearest', 'calls']:.0f}"
    at.sidebar.toggle(key="english").set_value(True).run()  # a rerun without a click: the result stays
    assert "119 calls served" in at.dataframe[0].value.index
    assert len(at.image) == 4


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("what_if_policies", [], "비교할 정책을 하나 이상 고르세요."),
        ("what_if_close_seoul-central", simulated_centres("seoul-central"), "응급실을 하나 이상 열어 두세요."),
    ],
)
def test_bad_input_gets_an_error_and_no_run_button(key: str, value: list[str], message: str) -> None:
    at = _page()
    at.multiselect(key=key).set_value(value).run()
    assert not at.exception, at.exception
    assert [e.value for e in at.error] == [message]
    assert at.button(key="what_if_run").disabled
    assert not at.dataframe


def test_a_scenario_without_roads_says_its_etas_are_approximate(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    for folder in Settings().data_dir.iterdir():
        if folder.name != "roads":
            (data / folder.name).symlink_to(folder)
    monkeypatch.setenv("GOLDENTIME_DATA_DIR", str(data))
    at = _page()
    at.sidebar.toggle(key="english").set_value(True).run()
    assert not at.exception, at.exception
    assert any("approximate ETAs" in w.value for w in at.warning)


def test_missing_data_gets_an_error_and_no_run_button(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GOLDENTIME_DATA_DIR", str(tmp_path))
    at = _page()
    assert at.error[0].value.startswith("시나리오를 불러올 수 없습니다: ")
    assert "does not exist" in at.error[0].value
    assert not at.button
