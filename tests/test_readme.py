"""What the README says of the demo city is what the demo runs (issue 25, item 10: it said 14 ambulances, the
demo had 11)."""

from __future__ import annotations

import re
from pathlib import Path

from goldentime.settings import Settings
from loaders.scenarios import default_scenario, load_scenario, prepare

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_readme_counts_the_demo_citys_ambulances() -> None:
    text = " ".join(README.read_text(encoding="utf-8").split())
    said = re.search(
        r"default scenario \(central Seoul on real roads: its E-Gen emergency centres, (\d+) ambulances", text
    )
    assert said is not None, "the README no longer says how many ambulances the demo city has"
    settings = Settings()
    prepared = prepare(
        load_scenario(default_scenario(settings.data_dir), settings.data_dir), cache_dir=settings.cache_dir
    )
    assert int(said.group(1)) == prepared.scenario.fleet_size
