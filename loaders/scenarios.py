"""Reading scenarios: the TOML in ``dispatch/scenarios/``, the centre and station CSVs of the data
directory, and the road graph with its caches, into :mod:`dispatch.scenario`'s dataclasses.

:func:`load_scenario` reads a scenario with its centres and stations (``national:gwangju``: one
region of a scenario, :meth:`dispatch.scenario.Scenario.region`); :func:`prepare` turns it into an
ETA index: exact on the road graph when the graph is there (built or read from the cache,
:mod:`loaders.graphs`), explicitly approximate when it is not.
"""

from __future__ import annotations

import csv
from importlib import resources
from pathlib import Path

from dispatch.scenario import (
    LARGE_SCENARIOS,
    SCENARIOS,
    Prepared,
    Scenario,
    ScenarioError,
    approximate_index,
    build_scenario,
    files_of,
    off_graph,
    on_graph,
    parse_spec,
)
from loaders.graphs import load_index, load_network, network_cache_key, resolve_graph

#: Between a scenario's name and one of its regions: ``national:gwangju``.
REGION_SEPARATOR = ":"


def split_name(name: str) -> tuple[str, str | None]:
    """``national:gwangju`` -> (``national``, ``gwangju``); ``gwangju`` -> (``gwangju``, None)."""
    base, _, region = name.partition(REGION_SEPARATOR)
    return base, (region or None) if REGION_SEPARATOR in name else None


def scenario_file(name: str) -> Path:
    """The TOML of the shipped scenario ``name`` (of the whole scenario for ``national:gwangju``)."""
    base, _ = split_name(name)
    path = Path(str(resources.files("dispatch") / "scenarios" / f"{base}.toml"))
    if not base or "/" in base or "\\" in base or not path.is_file():
        raise ScenarioError(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS + LARGE_SCENARIOS)}")
    return path


def read_csv(path: Path, encoding: str = "utf-8") -> list[dict[str, str]]:
    """The rows of a CSV file of the data directory, as dicts."""
    if not path.is_file():
        raise ScenarioError(f"{path} does not exist (run `goldentime data check`)")
    try:
        with path.open(encoding=encoding, newline="") as handle:
            return list(csv.DictReader(handle))
    except (UnicodeDecodeError, LookupError) as exc:
        raise ScenarioError(f"{path} cannot be read as {encoding}: {exc}") from None


def has_road_graph(scenario: Scenario) -> bool:
    """Whether the scenario's road graph file is there (else its ETAs are approximate)."""
    return scenario.road_graph.is_file()


def load_scenario(name: str, data_dir: Path, *, path: Path | None = None) -> Scenario:
    """Read scenario ``name`` (or the TOML at ``path``) with its centres and stations; for
    ``name:region`` (``national:gwangju``), that region's part of it."""
    base, region = split_name(name)
    source = path or scenario_file(name)
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"{source}: {exc}") from None
    spec = parse_spec(text, str(source))
    files = files_of(spec, str(source))
    scenario = build_scenario(
        base,
        spec,
        source=str(source),
        data_dir=data_dir,
        road_graph=resolve_graph(data_dir / files.road_graph),
        centre_rows=read_csv(data_dir / files.centres, files.centres_encoding),
        station_rows=read_csv(data_dir / files.stations, files.stations_encoding),
    )
    return scenario if region is None else scenario.region(region)


def prepare(scenario: Scenario, *, cache_dir: Path | None) -> Prepared:
    """Load the road graph and build (or load) the ETA index; approximate without a graph."""
    if not has_road_graph(scenario):
        return Prepared(scenario, approximate_index(scenario), None, ())
    key = network_cache_key(scenario.road_graph, scenario.speeds)
    network = load_network(scenario.road_graph, speeds=scenario.speeds, cache_dir=cache_dir, key=key)
    away = tuple(off_graph(scenario, network))
    usable = on_graph(scenario, network)
    if not usable.centres:
        raise ScenarioError(f"no emergency centre of {scenario.name} is within {scenario.max_snap_m:g} m of its roads")
    index = load_index(
        network,
        [c.target() for c in usable.centres],
        network_key=key,
        cache_dir=cache_dir,
        access_kmh=scenario.access_kmh,
        max_snap_m=scenario.max_snap_m,
    )
    return Prepared(usable, index.warm_up(), network, away)


def default_scenario(data_dir: Path) -> str:
    """The first scenario of :data:`~dispatch.scenario.SCENARIOS` whose data (road graph included) is complete."""
    for name in SCENARIOS:
        try:
            if has_road_graph(load_scenario(name, data_dir)):
                return name
        except ScenarioError:
            continue
    return SCENARIOS[-1]
