"""``goldentime``: one command, a subcommand per service. Each is a thin adapter that builds
the settings, then calls into the packages."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from pydantic import ValidationError

from goldentime.services import (
    broker_url,
    capacity_service,
    recorder_line,
    scenario_name,
    serve,
    start_capacity_publisher,
    start_recorder,
    start_region_dispatcher,
    wait_for_stop,
)
from goldentime.settings import Settings

log = logging.getLogger("goldentime")


class _Parser(argparse.ArgumentParser):
    """Bad arguments get one line saying what is wrong, not a usage dump."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


# --- subcommands -------------------------------------------------------------------------


def cmd_broker(settings: Settings, args: argparse.Namespace) -> int:
    from telemetry.broker import EmbeddedBroker

    with EmbeddedBroker(host=args.host, port=args.port, password_file=settings.mqtt_password_file) as broker:
        print(f"embedded MQTT broker listening on {broker.url}; Ctrl-C stops it", flush=True)
        wait_for_stop(seconds=args.seconds)
    return 0


def _run_recorder(settings: Settings, url: str, *, seconds: float | None) -> int:
    recorder = start_recorder(settings, url)
    try:
        wait_for_stop(lambda: print(recorder_line(recorder), flush=True), seconds=seconds)
    finally:
        recorder.stop()
        print(recorder_line(recorder), flush=True)
        if recorder.spool is not None:
            recorder.spool.close()
    return 0


def cmd_recorder(settings: Settings, args: argparse.Namespace) -> int:
    with broker_url(settings) as url:
        return _run_recorder(settings, url, seconds=args.seconds)


def cmd_data_check(settings: Settings, args: argparse.Namespace) -> int:
    from dispatch.scenario import SCENARIOS, ScenarioError
    from goldentime import datasets
    from loaders.scenarios import default_scenario, has_road_graph, load_scenario

    data_dir = args.data_dir or settings.data_dir
    report = datasets.check(data_dir)
    print(datasets.render(report))
    print("\nScenarios:")
    default = default_scenario(data_dir)
    for name in SCENARIOS:
        try:
            loaded = load_scenario(name, data_dir)
        except ScenarioError as exc:
            print(f"  {name:<14} cannot load: {exc}")
            continue
        state = (
            "complete, exact road ETAs"
            if has_road_graph(loaded)
            else (f"approximate ETAs: road graph {loaded.road_graph.relative_to(data_dir)} is missing")
        )
        marker = " (default)" if name == default else ""
        print(f"  {name:<14} {len(loaded.centres)} centres, {loaded.fleet_size} ambulances: {state}{marker}")
    return 0 if report.ok_for_default else 1


def _fetch_target(settings: Settings, args: argparse.Namespace) -> Path | None:
    """Where ``data fetch`` writes (relative paths: inside the data directory); None (said) when it exists."""
    out: Path = args.out if args.out.is_absolute() else settings.data_dir / args.out
    if out.exists() and not args.force:
        print(f"goldentime: error: {out} exists (use --force to replace it)", file=sys.stderr)
        return None
    return out


def _service_key(settings: Settings, args: argparse.Namespace) -> str | None:
    """The data.go.kr service key of ``--service-key`` or the settings; None (said in one line) when neither."""
    key: str | None = args.service_key or settings.egen_service_key
    if not key:
        print("goldentime: error: a data.go.kr service key is needed: --service-key KEY or GOLDENTIME_EGEN_SERVICE_KEY",
              file=sys.stderr)  # fmt: skip
    return key or None


def cmd_data_fetch_egen(settings: Settings, args: argparse.Namespace) -> int:
    import urllib.request

    from goldentime.egen_list import FetchError, fetch_institutions, write_csv

    key = _service_key(settings, args)
    if key is None:
        return 2
    out = _fetch_target(settings, args)
    if out is None:
        return 2

    def get(url: str) -> bytes:
        with urllib.request.urlopen(url, timeout=30) as response:
            body: bytes = response.read()
            return body

    print("reading the national emergency-institution list from the E-Gen OpenAPI (needs internet)...", flush=True)
    try:
        rows, skipped = fetch_institutions(get, key)
    except (OSError, ValueError, FetchError) as exc:  # ValueError: a malformed key (build_url)
        print(f"goldentime: error: E-Gen institution list: {exc}", file=sys.stderr)
        return 1
    write_csv(rows, out)
    note = f" ({skipped} items without an hpid or coordinates left out)" if skipped else ""
    print(f"wrote {out}: {len(rows):,} institutions{note} (출처: 국립중앙의료원 중앙응급의료센터(E-Gen), KOGL Type 1)")
    return 0


def cmd_data_fetch(settings: Settings, args: argparse.Namespace) -> int:
    out = _fetch_target(settings, args)
    if out is None:
        return 2
    import osmnx

    print(f"downloading the drive network of {args.place!r} from OpenStreetMap (needs internet)...", flush=True)
    try:
        graph = osmnx.graph_from_place(args.place, network_type="drive")
    except Exception as exc:  # osmnx raises many kinds: no network, place not found, ...
        print(f"goldentime: error: could not build the graph of {args.place!r}: {exc}", file=sys.stderr)
        return 1
    out.parent.mkdir(parents=True, exist_ok=True)
    osmnx.save_graphml(graph, out)
    size = f"{graph.number_of_nodes():,} nodes, {graph.number_of_edges():,} edges"
    print(f"wrote {out}: {size} (© OpenStreetMap contributors, ODbL 1.0)")
    return 0


def cmd_eta(settings: Settings, args: argparse.Namespace) -> int:
    import json

    from dispatch.roads import SnapError
    from dispatch.scenario import ScenarioError
    from loaders.scenarios import load_scenario, prepare

    name = scenario_name(settings, args.scenario)
    try:
        prepared = prepare(load_scenario(name, settings.data_dir), cache_dir=settings.cache_dir)
        etas = prepared.index.etas(args.lat, args.lon)
    except (ScenarioError, SnapError) as exc:
        print(f"goldentime: error: {exc}", file=sys.stderr)
        return 2
    scenario = prepared.scenario
    rows: list[dict[str, Any]] = [
        {
            "hpid": hpid,
            "name": scenario.centre(hpid).name,
            "level": scenario.centre(hpid).level,
            "eta_s": round(seconds, 1),
            "distance_m": round(meters),
            "eta_mode": etas.mode,
        }
        for hpid, seconds, meters in etas.ranked()
    ]
    if args.json:
        print(
            json.dumps(
                {"scenario": name, "lat": args.lat, "lon": args.lon, "eta_mode": etas.mode, "centres": rows},
                ensure_ascii=False,
                indent=2,
            )
        )
        return 0
    how = (
        "exact, on the road graph"
        if prepared.exact
        else ("APPROXIMATE: no road graph, great-circle distance x detour factor")
    )
    print(f"ETA from ({args.lat}, {args.lon}) to every centre of {name} ({how}):")
    approx = "~" if etas.mode == "approximate" else ""
    for rank, row in enumerate(rows, 1):
        seconds = float(row["eta_s"])
        eta = "unreachable" if seconds == float("inf") else f"{approx}{int(seconds // 60)}:{int(seconds % 60):02d} min"
        where = f"{row['name']} ({row['hpid']}, level {row['level']})"
        print(f"{rank:>3}. {eta:>12}  {float(row['distance_m']) / 1000:6.1f} km  {where}")
    for item in prepared.off_graph:
        print(f"  (left out: {item.kind} {item.name}, {item.distance_m:,.0f} m from the road graph)")
    return 0


def cmd_severity_train(settings: Settings, args: argparse.Namespace) -> int:
    from loaders.severity import KTAS_FILE, save, train_from_file

    data_file = settings.data_dir / KTAS_FILE
    if not data_file.is_file():
        print(f"goldentime: error: {data_file} is missing (goldentime data check)", file=sys.stderr)
        return 2
    started = time.perf_counter()
    model = train_from_file(data_file)
    path = save(model, settings.model_dir, data_file)
    meta = model.metadata
    print(
        f"trained in {time.perf_counter() - started:.1f} s: C = {meta['C']:g}, operating threshold p_critical >= "
        f"{meta['threshold']:.3f} (critical recall >= {meta['target_recall']:.2f} out of fold); saved {path}"
    )
    return 0


def cmd_severity_evaluate(settings: Settings, args: argparse.Namespace) -> int:
    from goldentime.severity_report import write_report

    write_report(settings.data_dir, args.output, repeats=args.repeats, progress=lambda m: print(m, flush=True))
    print(f"wrote {args.output} and {args.output.with_name('severity_calibration.png')}")
    return 0


def cmd_severity_score(settings: Settings, args: argparse.Namespace) -> int:
    import csv

    from dispatch.severity.features import KTAS_ENCODING, from_ktas_row, ktas_rows
    from loaders.severity import load_or_train

    try:
        rows = ktas_rows(args.input.read_bytes(), encoding=args.encoding)
    except OSError as exc:
        print(f"goldentime: error: cannot read {args.input}: {exc}", file=sys.stderr)
        return 2
    except UnicodeDecodeError as exc:
        hint = " (a file with Korean text: --encoding utf-8)" if args.encoding == KTAS_ENCODING else ""
        print(f"goldentime: error: cannot read {args.input} as {args.encoding}: {exc}{hint}", file=sys.stderr)
        return 2
    if not rows:
        print(f"goldentime: error: {args.input} has no data rows", file=sys.stderr)
        return 2
    if "Chief_complain" not in rows[0]:
        print(f"goldentime: error: {args.input} is not in the KTAS data set's format (no Chief_complain column)",
              file=sys.stderr)  # fmt: skip
        return 2
    model = load_or_train(settings.data_dir, settings.model_dir)
    levels, p_critical, p_emergency = model.predict([from_ktas_row(r) for r in rows])
    calls = model.critical_calls(p_critical)
    with args.output.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["ktas", "critical", "p_critical", "p_emergency"])
        for row in zip(levels.tolist(), calls.tolist(), p_critical.tolist(), p_emergency.tolist(), strict=True):
            writer.writerow([row[0], int(row[1]), f"{row[2]:.4f}", f"{row[3]:.4f}"])
    print(f"scored {len(rows)} rows -> {args.output} (ktas: the likeliest level; critical: 1 = the critical call)")
    return 0


def cmd_capacity_api(settings: Settings, args: argparse.Namespace) -> int:
    from hospital_capacity.api import create_app

    service = capacity_service(settings)
    with broker_url(settings) as url:
        publisher, where = start_capacity_publisher(settings, service, url)
        app = create_app(service, mqtt_connected=lambda: publisher.connected, cors_origins=settings.cors_origins)
        print(
            f"capacity API on http://{args.host}:{args.port} (OpenAPI at /docs), {service.store.count()} centres, "
            f"publishing to {where}",
            flush=True,
        )
        try:
            serve(app, args.host, args.port, seconds=args.seconds)
        finally:
            publisher.stop()
    return 0


#: Why ``goldentime dispatcher --share-group`` is refused (issue 26).
SHARE_GROUP_GONE = (
    "--share-group is no longer offered for the dispatcher: workers sharing a region's decisions sent two patients "
    "to the same last bed and recommended the same ambulance twice (issue 26). Run one dispatcher per region with "
    "--region NAME, and a second one with the same --region as its hot standby (docs/scaling.md)"
)


def cmd_dispatcher(settings: Settings, args: argparse.Namespace) -> int:
    import sqlalchemy as sa

    from dispatch.scenario import ScenarioError
    from telemetry.leader import LeaseError, check_region

    if args.share_group is not None or args.worker is not None:
        print(f"goldentime: error: {SHARE_GROUP_GONE}", file=sys.stderr)
        return 2
    try:
        region = None if args.region is None else check_region(args.region)
    except LeaseError as exc:
        print(f"goldentime: error: --region: {exc}", file=sys.stderr)
        return 2
    with broker_url(settings) as url:
        try:
            service = start_region_dispatcher(settings, url, region=region, ttl_s=args.lease_ttl)
        except ScenarioError as exc:
            print(f"goldentime: error: --region: {exc}", file=sys.stderr)
            return 2
        except (LeaseError, sa.exc.SQLAlchemyError) as exc:
            where = sa.make_url(settings.resolved_database_url()).render_as_string(hide_password=True)
            why = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            print(f"goldentime: error: the region's lease cannot be held in {where}: {why}", file=sys.stderr)
            return 1
        try:
            wait_for_stop(lambda: print(service.line(), flush=True), seconds=args.seconds,
                          until=lambda: service.failure is not None)  # fmt: skip
        finally:
            service.stop()
        if service.failure is not None:
            raise service.failure  # a broker that cannot be reached: one line (main)
    return 0


def _lease_ttl(value: str) -> float:
    """``--lease-ttl``: at least twice the renewal (1 s), at most an hour."""
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds") from None
    if not 2 <= seconds <= 3600:
        raise argparse.ArgumentTypeError(f"{value!r} must be from 2 to 3600 s (the lease is renewed every second)")
    return seconds


def cmd_hospitals_token(settings: Settings, args: argparse.Namespace) -> int:
    from hospital_capacity.service import UnknownHospital

    if (args.hpid is None) == (not args.control):
        print("goldentime: error: give either an HPID or --control", file=sys.stderr)
        return 2
    service = capacity_service(settings)
    label = args.label or (f"centre {args.hpid}" if args.hpid else "control room")
    try:
        token = service.create_token(args.hpid, label, valid_days=args.days)
    except UnknownHospital as exc:
        print(f"goldentime: error: {exc}", file=sys.stderr)
        return 2
    print(token)
    print(f"(token for {label}; shown once, only its hash is stored)", file=sys.stderr)
    return 0


def _import_egen(settings: Settings, xml: bytes) -> int:
    from hospital_capacity.egen import EgenError
    from hospital_capacity.service import Caller, Forbidden
    from hospital_capacity.state import UpdateRejected

    service = capacity_service(settings)
    try:
        result = service.import_egen(xml, caller=Caller(label="goldentime hospitals import-egen", hpid=None))
    except (EgenError, UpdateRejected, Forbidden) as exc:
        print(f"goldentime: error: {exc}", file=sys.stderr)
        return 2
    print(f"{result.operation}: updated {len(result.updated)} centres; unknown hpids: {result.unknown_hpids or 'none'}")
    for refusal in result.refused:
        print(f"refused {refusal.hpid}: {refusal.reason}")
    for hpid, parts in result.kept_newer.items():
        print(f"kept {hpid}: {', '.join(parts)} (stored values were observed later)")
    return 0


def cmd_hospitals_import(settings: Settings, args: argparse.Namespace) -> int:
    try:
        xml = args.file.read_bytes()
    except OSError as exc:
        print(f"goldentime: error: cannot read {args.file}: {exc}", file=sys.stderr)
        return 2
    return _import_egen(settings, xml)


def cmd_hospitals_poll(settings: Settings, args: argparse.Namespace) -> int:
    import urllib.request

    from hospital_capacity.egen import build_url

    operations = ("getEmrrmRltmUsefulSckbdInfoInqire", "getSrsillDissAceptncPosblInfoInqire")
    key = _service_key(settings, args)
    if key is None:
        return 2

    def poll() -> None:
        for operation in operations:
            url = build_url(operation, service_key=key, stage1=args.stage1, stage2=args.stage2,
                            page=1, rows=1000)  # fmt: skip
            try:
                with urllib.request.urlopen(url, timeout=30) as response:
                    _import_egen(settings, response.read())
            except OSError as exc:
                print(f"goldentime: error: {operation}: {exc}", file=sys.stderr)

    poll()
    if args.every:
        wait_for_stop(poll, every_s=args.every)
    return 0


def cmd_fhir_export(settings: Settings, args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from telemetry.fhir import FhirError
    from telemetry.fhir_export import OutputError, export

    try:
        result = export(settings.resolved_database_url(), args.out, patient=args.patient, since=args.since,
                        now=datetime.now(UTC))  # fmt: skip
    except FhirError as exc:
        print(f"goldentime: error: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, OutputError) else 1
    print(f"wrote {result.observations} observations of {result.patients} patients ({result.messages} vitals "
          f"messages) to {result.out}", file=sys.stderr if args.out == "-" else sys.stdout)  # fmt: skip
    return 0


def _fhir_argument(check: Any) -> Any:
    """An argparse type from a telemetry.fhir check: its FhirError becomes a one-line usage error."""
    from telemetry.fhir import FhirError

    def convert(value: str) -> Any:
        try:
            return check(value)
        except FhirError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return convert


BENCHMARKS = ("roads", "severity", "dispatch", "national", "capacity", "recorder", "simulation", "throughput", "memory")


def cmd_bench(settings: Settings, args: argparse.Namespace) -> int:
    from goldentime.bench import report

    if args.mosquitto:
        from goldentime.bench.mosquitto import private_mosquitto

        with private_mosquitto() as url:
            args.mqtt_url = [*(args.mqtt_url or []), url]
            args.mosquitto = False
            return cmd_bench(settings, args)
    figures: list[report.Figure] = []
    for name in args.only or BENCHMARKS:
        report.StealMeter.begin()
        figures += _run_benchmark(name, settings, args)
        if (stolen := report.StealMeter.share()) is not None:
            figures.append(report.Figure(f"cpu_steal_pct.{name}", 100 * stolen, "%"))
    if figures:
        print("\n".join(["", "figures:", *(f"  {f.line()}" for f in figures)]), flush=True)
    if args.json:
        report.write_json(args.json, figures)
        print(f"wrote {args.json}", flush=True)
    return 0


def _run_benchmark(name: str, settings: Settings, args: argparse.Namespace) -> list[Any]:
    """Run one benchmark (its section of the report) and return its figures."""
    import importlib

    module = importlib.import_module(f"goldentime.bench.{name}")
    common = {"quick": args.quick, "output": args.output}
    options_by_name: dict[str, dict[str, Any]] = {
        "roads": {"data_dir": settings.data_dir, "cache_dir": settings.cache_dir},
        "severity": {"data_dir": settings.data_dir},
        "dispatch": {"data_dir": settings.data_dir, "cache_dir": settings.cache_dir, "mqtt_urls": args.mqtt_url or []},
        "national": {"data_dir": settings.data_dir, "cache_dir": settings.cache_dir},
        "capacity": {"mqtt_urls": args.mqtt_url or []},
        "recorder": {"settings": settings, "mqtt_urls": args.mqtt_url or [], "database_urls": args.database_url or []},
        "simulation": {"settings": settings},
        "throughput": {"settings": settings, "mqtt_urls": args.mqtt_url or []},
        "memory": {"settings": settings, "mqtt_urls": args.mqtt_url or []},
    }
    figures = module.main(**common, **options_by_name[name])
    return figures if isinstance(figures, list) else []


# --- parser ------------------------------------------------------------------------------


def _positive(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if number <= 0:
        raise argparse.ArgumentTypeError(f"{value!r} must be greater than 0")
    return number


def _coordinate(value: str, limit: float, what: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a {what}") from None
    if not -limit <= number <= limit:
        raise argparse.ArgumentTypeError(f"{what} {value} is outside -{limit:g}..{limit:g}")
    return number


def _latitude(value: str) -> float:
    return _coordinate(value, 90, "latitude")


def _longitude(value: str) -> float:
    return _coordinate(value, 180, "longitude")


def _text_encoding(value: str) -> str:
    """A codec name that decodes bytes to text (``utf-8``, ``cp1254``, ``cp949``...)."""
    import codecs

    try:
        info = codecs.lookup(value)
    except LookupError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a text encoding Python knows") from None
    if not getattr(info, "_is_text_encoding", True):
        raise argparse.ArgumentTypeError(f"{value!r} is not a text encoding") from None
    return value


def _port(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= 65535:
        raise argparse.ArgumentTypeError(f"{value!r} is not a TCP port (1-65535)")
    return int(value)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="goldentime",
        description="GoldenTime: the right emergency centre for every 119 ambulance patient. "
        "Settings come from GOLDENTIME_* environment variables (see README).",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log at debug level")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)

    def seconds_option(p: argparse.ArgumentParser) -> None:
        p.add_argument("--seconds", type=_positive, help="stop after this many seconds (default: until Ctrl-C)")

    from goldentime import demo

    demo.add_parser(sub, _positive, _port)

    p = sub.add_parser(
        "broker",
        help="run the embedded MQTT broker standalone",
        description="Run the embedded (amqtt) MQTT broker until Ctrl-C. It never takes port 1883.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=_port, default=None, help="port to bind (default: a free port)")
    seconds_option(p)
    p.set_defaults(func=cmd_broker)

    p = sub.add_parser(
        "recorder",
        help="store every ems/# message in SQL",
        description="Subscribe to ems/#, validate every message against the contract, store accepted ones in "
        "GOLDENTIME_DATABASE_URL (default SQLite under var/) and publish refused ones to ems/rejected/recorder. "
        "Without GOLDENTIME_MQTT_URL it starts an embedded broker.",
    )
    seconds_option(p)
    p.set_defaults(func=cmd_recorder)

    p = sub.add_parser("data", help="inspect the data directory", description="Data sets of GOLDENTIME_DATA_DIR.")
    data_sub = p.add_subparsers(dest="data_command", required=True, metavar="ACTION", parser_class=_Parser)
    c = data_sub.add_parser(
        "check",
        help="list which data sets are present, their sizes and licences, and what is missing",
        description="List the data sets, verify sizes, row counts and checksums, and say how to get what is "
        "missing. Exit status 1 when the default scenario cannot run.",
    )
    c.add_argument("--data-dir", type=Path, help="data directory (default: GOLDENTIME_DATA_DIR)")
    c.set_defaults(func=cmd_data_check)

    c = data_sub.add_parser(
        "fetch",
        help="refresh or extend the data directory from the public sources (needs internet)",
        description="Refresh or extend the data directory from the public sources: a road graph from "
        "OpenStreetMap (roads), the national emergency-institution list from the E-Gen OpenAPI (egen).",
    )
    fetch_sub = c.add_subparsers(dest="fetch_source", required=True, metavar="SOURCE", parser_class=_Parser)
    f = fetch_sub.add_parser(
        "roads",
        help="build a road graph from OpenStreetMap with osmnx",
        description="Download the drive network of a place from OpenStreetMap with osmnx and save it as GraphML "
        'in the data directory, e.g. --place "Gwangju, South Korea" --out roads/gwangju_drive.graphml.',
    )
    f.add_argument("--place", required=True, help='a place name OpenStreetMap knows, e.g. "Gwangju, South Korea"')
    f.add_argument("--out", type=Path, required=True, help="GraphML path, relative to the data directory")
    f.add_argument("--force", action="store_true", help="replace an existing file")
    f.set_defaults(func=cmd_data_fetch)
    f = fetch_sub.add_parser(
        "egen",
        help="the national emergency-institution list from the E-Gen OpenAPI (data.go.kr service key)",
        description="Read every page of the E-Gen institution list (getEgytListInfoInqire) and the trauma-centre "
        "list (getStrmListInfoInqire) and write them in the columns of hospitals/korea_emergency_institutions.csv.",
    )
    f.add_argument("--service-key", help="data.go.kr service key (default: GOLDENTIME_EGEN_SERVICE_KEY)")
    f.add_argument("--out", type=Path, default=Path("hospitals/korea_emergency_institutions.csv"),
                   help="CSV path, relative to the data directory (default: the national list)")  # fmt: skip
    f.add_argument("--force", action="store_true", help="replace an existing file")
    f.set_defaults(func=cmd_data_fetch_egen)

    p = sub.add_parser(
        "eta",
        help="ETA from a point to every emergency centre of a scenario",
        description="Print the ETA from LAT LON to every emergency centre of the scenario, fastest first, with the "
        "road distance and whether it is exact (road graph) or approximate.",
    )
    p.add_argument("lat", type=_latitude, help="latitude (WGS84)")
    p.add_argument("lon", type=_longitude, help="longitude (WGS84)")
    p.add_argument("--scenario", help="scenario name (default: GOLDENTIME_SCENARIO, else the first complete one)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=cmd_eta)

    p = sub.add_parser("severity", help="the severity model: train, evaluate, score a CSV")
    sev = p.add_subparsers(dest="severity_command", required=True, metavar="ACTION", parser_class=_Parser)
    c = sev.add_parser(
        "train",
        help="train the severity model from the KTAS data and save it under var/models",
        description="Train the severity model on the KTAS development data of the data directory (fixed seeds) and "
        "save it with its metadata under GOLDENTIME_VAR_DIR/models. Other commands train it on first use anyway.",
    )
    c.set_defaults(func=cmd_severity_train)
    c = sev.add_parser(
        "evaluate",
        help="nested cross-validation beside NEWS2 and the nurse -> docs/severity_report.md",
        description="Run nested, repeated stratified cross-validation and write the report with a calibration plot.",
    )
    c.add_argument("--repeats", type=int, default=5, choices=range(1, 51), metavar="N", help="CV repeats (default 5)")
    c.add_argument("--output", type=Path, default=Path("docs/severity_report.md"), help="report path")
    c.set_defaults(func=cmd_severity_evaluate)
    c = sev.add_parser(
        "score",
        help="score a CSV in the KTAS data set's format",
        description="Score every row of a CSV in the KTAS data set's format (cp1254, ';'; label columns optional) "
        "and write ktas, critical, p_critical, p_emergency per row, same order. ktas is the likeliest level; critical "
        "(1 or 0) is the recall-first call at the operating threshold, the one the router holds patients to. "
        "Chief complaints may be "
        "Korean or English (흉통 = chest pain); a file with Korean text is read with --encoding utf-8.",
    )
    c.add_argument("--input", type=Path, required=True, help="CSV in the KTAS format")
    c.add_argument(
        "--encoding",
        type=_text_encoding,
        default="cp1254",
        help="text encoding of --input (default cp1254, the KTAS file's; utf-8 for a file with Korean text)",
    )
    c.add_argument("--output", type=Path, required=True, help="where to write the scores (UTF-8 CSV)")
    c.set_defaults(func=cmd_severity_score)

    p = sub.add_parser(
        "dispatcher",
        help="a region's dispatcher: advice for every patient, units for incidents (a second one stands by)",
        description="Subscribe to units, capacity and incidents; publish retained advice to ems/units/{unit}/advice, "
        "pre-notification to ems/hospitals/{hpid}/inbound and unit recommendations to "
        "ems/incidents/{id}/assignment. Scenario: GOLDENTIME_SCENARIO (default: the first complete one). Without "
        "GOLDENTIME_MQTT_URL it starts an embedded broker. One dispatcher per region decides: it holds the region's "
        "lease in the database (GOLDENTIME_DATABASE_URL: a PostgreSQL advisory lock and lease row; SQLite by "
        "default) and connects as dispatcher-REGION with a persistent session. Another started with the same "
        "--region is its hot standby: it takes over when the leader stops, dies, or does not renew its lease for "
        "--lease-ttl seconds, with the decision state the leader stored (docs/scaling.md).",
    )
    p.add_argument(
        "--region",
        help="the region it decides for, and the name of its lease (default: the scenario's name); with a scenario of "
        "several regions (national), one of them (gwangju): the dispatcher then decides for that region's part",
    )
    p.add_argument(
        "--lease-ttl",
        type=_lease_ttl,
        default=None,
        metavar="S",
        help="seconds a leader that stopped renewing (frozen, cut off) keeps the lease before a standby takes it "
        "(default 5; renewed every second)",
    )
    p.add_argument("--share-group", help=argparse.SUPPRESS)  # refused with a message (SHARE_GROUP_GONE)
    p.add_argument("--worker", help=argparse.SUPPRESS)
    seconds_option(p)
    p.set_defaults(func=cmd_dispatcher)

    p = sub.add_parser(
        "capacity-api",
        help="the emergency-centre capacity API (FastAPI), default port 8300",
        description="Serve the capacity API: centres post beds, capabilities and diversion; every accepted update "
        "is published to ems/hospitals/{hpid}/capacity (retained). Seeds the E-Gen institution list on first start. "
        "Without GOLDENTIME_MQTT_URL it starts an embedded broker.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=_port, default=8300, help="port (default 8300)")
    seconds_option(p)
    p.set_defaults(func=cmd_capacity_api)

    p = sub.add_parser("hospitals", help="emergency centres: API tokens, E-Gen import")
    hos = p.add_subparsers(dest="hospitals_command", required=True, metavar="ACTION", parser_class=_Parser)
    c = hos.add_parser("token", help="API tokens")
    tok = c.add_subparsers(dest="token_command", required=True, metavar="ACTION", parser_class=_Parser)
    c = tok.add_parser(
        "create",
        help="create a token for one centre (HPID) or the control room (--control)",
        description="Print a new API token. A centre's token updates only that centre; the control room's token "
        "updates any. Only a hash is stored: the token is shown once.",
    )
    c.add_argument("hpid", nargs="?", help="the centre's hpid, e.g. A1500002")
    c.add_argument("--control", action="store_true", help="a control-room token (may update every centre)")
    c.add_argument("--label", help="who holds it (kept with every update it makes)")
    c.add_argument("--days", type=_positive, help="valid for this many days (default: until revoked)")
    c.set_defaults(func=cmd_hospitals_token)
    c = hos.add_parser(
        "import-egen",
        help="import an E-Gen XML response (real-time beds or severe-illness acceptance)",
        description="Update every known centre named in an E-Gen getEmrrmRltmUsefulSckbdInfoInqire or "
        "getSrsillDissAceptncPosblInfoInqire XML response; a bad file changes nothing.",
    )
    c.add_argument("file", type=Path, help="the XML file")
    c.set_defaults(func=cmd_hospitals_import)
    c = hos.add_parser(
        "poll-egen",
        help="poll the live E-Gen API (needs internet and a data.go.kr service key)",
        description="Fetch both E-Gen operations and import them; with --every, keep polling until Ctrl-C.",
    )
    c.add_argument("--service-key", help="data.go.kr service key (default: GOLDENTIME_EGEN_SERVICE_KEY)")
    c.add_argument("--stage1", default="광주광역시", help="시도 (default 광주광역시)")
    c.add_argument("--stage2", help="시군구 (default: all)")
    c.add_argument("--every", type=_positive, help="seconds between polls (default: poll once)")
    c.set_defaults(func=cmd_hospitals_poll)

    from telemetry import fhir

    p = sub.add_parser("fhir", help="FHIR R4 export of the recorded vitals")
    fhir_sub = p.add_subparsers(dest="fhir_command", required=True, metavar="ACTION", parser_class=_Parser)
    c = fhir_sub.add_parser(
        "export",
        help="the recorded vitals as a FHIR R4 Bundle of vital-signs Observations (docs/fhir.md)",
        description="Write the vitals the recorder stored in GOLDENTIME_DATABASE_URL as a FHIR R4 Bundle (type "
        "collection) of Observations: vital-signs profile, LOINC codes, UCUM units, Patient/<pseudonymous id>, "
        "effective time = the vitals' ts. See docs/fhir.md.",
    )
    c.add_argument("--patient", type=_fhir_argument(fhir.check_patient_id), metavar="ID",
                   help="only this pseudonymous patient id")  # fmt: skip
    c.add_argument("--since", type=_fhir_argument(fhir.parse_time), metavar="T",
                   help="only vitals measured at or after T (ISO 8601 with a zone: 2026-11-24T09:00:00Z)")  # fmt: skip
    c.add_argument("--out", required=True, metavar="FILE", help="the JSON file to write ('-': standard output)")
    c.set_defaults(func=cmd_fhir_export)

    from goldentime import simulate

    simulate.add_parser(sub, _positive)
    from goldentime import calibrate

    calibrate.add_parser(sub, _positive)
    from goldentime import sensitivity

    sensitivity.add_parser(sub, _positive)
    from goldentime import mqtt_users

    mqtt_users.add_parser(sub)
    from goldentime import retention

    retention.add_parser(sub, _positive)

    p = sub.add_parser(
        "bench",
        help="measure performance and write docs/performance.md",
        description="Measure every figure beside its alternative: ETA queries against networkx (seoul-central and "
        "a synthetic 200,000-node grid), severity assess latency, plan time and vitals-to-advice latency (38 and "
        "1,500 units), capacity API updates, recorder throughput, 7 simulated days × every policy, one dispatcher "
        "worker's throughput beside a plain paho pair (and two on a shared subscription), and a worker's memory; "
        "through the embedded broker and every --mqtt-url given, into SQLite and every --database-url given. Writes "
        "the figures to docs/performance.md, each benchmark its own section.",
    )
    p.add_argument("--quick", action="store_true", help="smaller runs, for a smoke test")
    p.add_argument("--only", action="append", choices=BENCHMARKS, help="run only this benchmark (repeatable)")
    p.add_argument("--mqtt-url", action="append", help="also measure through this broker (repeatable)")
    p.add_argument(
        "--mosquitto",
        action="store_true",
        help="also measure through a private Mosquitto started with deploy/mosquitto/mosquitto.conf",
    )
    p.add_argument("--database-url", action="append", help="also measure with this database (repeatable)")
    p.add_argument("--output", type=Path, default=Path("docs/performance.md"), help="where to write the report")
    p.add_argument("--json", type=Path, metavar="FILE", help="also write every figure as JSON: a list of "
                   "{name, value, unit, baseline, ratio, goal, met}")  # fmt: skip
    p.set_defaults(func=cmd_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        settings = Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "GOLDENTIME_" + "_".join(str(p) for p in first["loc"]).upper()
        print(f"goldentime: error: {name}: {first['msg']}", file=sys.stderr)
        return 2
    try:
        result: int = args.func(settings, args)
    except BrokenPipeError:
        if _stdout_open():
            raise  # a pipe of ours broke, not the output: that is an error
        return 0  # output piped into head & co.
    except Exception as exc:
        if (failure := _broker_failure(exc)) is None:
            raise
        print(f"goldentime: error: {failure}", file=sys.stderr)
        return 1
    return result


def _broker_failure(exc: Exception) -> str | None:
    """One line for a broker that cannot be reached or started, or a broker URL that cannot be used: it names the
    broker (never the password of its URL) and the cause. None for any other error."""
    from telemetry.broker import BrokerStartError
    from telemetry.client import BrokerUrlError, ConnectError

    return str(exc) if isinstance(exc, ConnectError | BrokerUrlError | BrokerStartError) else None


def _stdout_open() -> bool:
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        sys.stdout = Path(os.devnull).open("w")  # noqa: SIM115 - no second error when Python exits
        return False
    return True


if __name__ == "__main__":
    sys.exit(main())
