"""``goldentime``: one command, a subcommand per service. Each is a thin adapter that builds
the settings, then calls into the packages."""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import NoReturn

from pydantic import ValidationError

from goldentime.settings import Settings

log = logging.getLogger("goldentime")


class _Parser(argparse.ArgumentParser):
    """Bad arguments get one line saying what is wrong, not a usage dump."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _wait_for_stop(
    tick: Callable[[], None] | None = None, *, seconds: float | None = None, every_s: float = 10
) -> None:
    """Block until Ctrl-C / SIGTERM (or ``seconds``), calling ``tick`` every ``every_s``."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    deadline = None if seconds is None else time.monotonic() + seconds
    while True:
        timeout = every_s if deadline is None else min(every_s, deadline - time.monotonic())
        if stop.wait(max(timeout, 0.0)) or (deadline is not None and time.monotonic() >= deadline):
            return
        if tick is not None:
            tick()


@contextlib.contextmanager
def _broker_url(settings: Settings) -> Iterator[str]:
    """The configured broker, or an embedded one for the duration of the block."""
    if settings.mqtt_url:
        yield settings.mqtt_url
        return
    from telemetry.broker import EmbeddedBroker

    with EmbeddedBroker() as broker:
        print(f"embedded MQTT broker: {broker.url} (set GOLDENTIME_MQTT_URL to use another broker)", flush=True)
        yield broker.url


# --- subcommands -------------------------------------------------------------------------


def cmd_broker(settings: Settings, args: argparse.Namespace) -> int:
    from telemetry.broker import EmbeddedBroker

    with EmbeddedBroker(host=args.host, port=args.port) as broker:
        print(f"embedded MQTT broker listening on {broker.url}; Ctrl-C stops it", flush=True)
        _wait_for_stop(seconds=args.seconds)
    return 0


def _run_recorder(settings: Settings, url: str, *, seconds: float | None) -> int:
    from telemetry.recorder import run_recorder

    database_url = settings.resolved_database_url()
    recorder = run_recorder(
        url,
        database_url,
        client_id=settings.recorder_client_id,
        batch_size=settings.recorder_batch_size,
        flush_interval_s=settings.recorder_flush_interval_s,
        keepalive_s=settings.mqtt_keepalive_s,
        protocol=settings.protocol_for(settings.mqtt_url),
    )
    print(f"recorder: ems/# on {url} -> {recorder.store.engine.url.render_as_string()}", flush=True)

    def report() -> None:
        s = recorder.stats
        print(
            f"recorder: {s.accepted} messages stored, {s.rejected} rejected, {s.db_errors} database errors", flush=True
        )

    try:
        _wait_for_stop(report, seconds=seconds)
    finally:
        recorder.stop()
        report()
    return 0


def cmd_recorder(settings: Settings, args: argparse.Namespace) -> int:
    with _broker_url(settings) as url:
        return _run_recorder(settings, url, seconds=args.seconds)


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    print("GoldenTime demo: embedded broker and recorder.")
    print("(The dispatcher, capacity API, simulator and dashboard join the demo as their issues land.)")
    with _broker_url(settings) as url:
        return _run_recorder(settings, url, seconds=args.seconds)


def cmd_data_check(settings: Settings, args: argparse.Namespace) -> int:
    from goldentime import datasets

    data_dir = args.data_dir or settings.data_dir
    report = datasets.check(data_dir)
    print(datasets.render(report))
    return 0 if report.ok_for_default else 1


def cmd_bench(settings: Settings, args: argparse.Namespace) -> int:
    from goldentime.bench import recorder as bench_recorder

    return bench_recorder.main(
        settings,
        quick=args.quick,
        output=args.output,
        mqtt_urls=args.mqtt_url or [],
        database_urls=args.database_url or [],
    )


# --- parser ------------------------------------------------------------------------------


def _positive(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if number <= 0:
        raise argparse.ArgumentTypeError(f"{value!r} must be greater than 0")
    return number


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

    p = sub.add_parser(
        "demo",
        help="run the whole system on embedded defaults",
        description="Start the embedded broker (unless GOLDENTIME_MQTT_URL is set) and the recorder, and report "
        "what they do until Ctrl-C.",
    )
    seconds_option(p)
    p.set_defaults(func=cmd_demo)

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

    p = sub.add_parser(
        "bench",
        help="measure performance and write docs/performance.md",
        description="Measure recorder throughput and publish-to-stored latency through the embedded broker "
        "and every --mqtt-url given, into SQLite and every --database-url given, and write the figures to "
        "docs/performance.md.",
    )
    p.add_argument("--quick", action="store_true", help="fewer messages, for a smoke run")
    p.add_argument("--mqtt-url", action="append", help="also measure through this broker (repeatable)")
    p.add_argument("--database-url", action="append", help="also measure with this database (repeatable)")
    p.add_argument("--output", type=Path, default=Path("docs/performance.md"), help="where to write the report")
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
    result: int = args.func(settings, args)
    return result


if __name__ == "__main__":
    sys.exit(main())
