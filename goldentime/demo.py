"""``goldentime demo`` (``make demo``): the whole system in one command, on embedded defaults.

Starts, in this order: the MQTT broker (embedded unless ``GOLDENTIME_MQTT_URL`` is set), the
capacity API (with a demo token per centre), the recorder, the dispatcher, the live simulated
city of the default scenario and the Streamlit dashboard; prints the URLs; on Ctrl-C stops
them in the reverse order. ``--headless`` leaves out the dashboard and prints a short KPI
summary when ``--minutes`` are up, for smoke tests.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from goldentime.settings import Settings

#: The longest city the demo draws (at 60× real time, 2.8 hours).
MAX_DAYS = 7.0
DASHBOARD = Path(__file__).resolve().parent.parent / "dashboard" / "app.py"


def add_parser(sub: Any, positive: Callable[[str], float], port: Callable[[str], int]) -> None:
    p = sub.add_parser(
        "demo",
        help="run the whole system on embedded defaults: broker, capacity API, recorder, dispatcher, "
        "live simulated city and dashboard",
        description="Start the embedded broker (unless GOLDENTIME_MQTT_URL is set), the capacity API, the recorder, "
        "the dispatcher, the live simulated city of the default scenario and the dashboard; print the URLs; Ctrl-C "
        "stops everything.",
    )
    p.add_argument("--headless", action="store_true", help="no dashboard; print a KPI summary at the end")
    p.add_argument(
        "--minutes", type=positive, help="stop after this many real minutes (default: 2 when headless, else Ctrl-C)"
    )
    p.add_argument("--speed", type=positive, default=60.0, help="city seconds per real second (default 60)")
    p.add_argument("--surge", type=positive, default=1.0, help="multiply the city's call rate (default 1)")
    p.add_argument("--seed", type=int, default=1, help="the city's random seed (default 1)")
    p.add_argument("--host", default="127.0.0.1", help="address for the API and dashboard (default 127.0.0.1)")
    p.add_argument("--api-port", type=port, default=8000, help="capacity API port (default 8000, else a free one)")
    p.add_argument("--dashboard-port", type=port, default=8501, help="dashboard port (default 8501, else a free one)")
    p.set_defaults(func=cmd_demo)


def _port_or_free(host: str, wanted: int) -> int:
    """``wanted`` when it is free, else any free port (said on the console)."""
    from telemetry.broker import free_port

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, wanted))
            return wanted
        except OSError:
            port = free_port(host)
            print(f"port {wanted} is taken; using {port}", flush=True)
            return port


def _city(settings: Settings, args: argparse.Namespace, minutes: float) -> tuple[Any, Any, Any]:
    """The default scenario prepared once (for the dispatcher and the city), its config and the city's draws."""
    from goldentime.services import scenario_name
    from loaders.scenarios import load_scenario, prepare, scenario_file
    from simulations.config import load_sim_config
    from simulations.engine import check_coverage, draw_city
    from simulations.patients import ambulance_patients, walkin_ktas_mix

    name = scenario_name(settings, None)
    scenario = load_scenario(name, settings.data_dir)
    prepared = prepare(scenario, cache_dir=settings.cache_dir)
    config = load_sim_config(scenario_file(name))
    check_coverage(scenario, prepared, config)
    ktas_file = settings.data_dir / "ktas_triage" / "ktas_triage_moon2019_dev.csv"
    days = min(max(minutes * args.speed / (24 * 60), 1 / 24), MAX_DAYS)
    draws = draw_city(
        prepared,
        config,
        ambulance_patients(ktas_file),
        walkin_ktas_mix(ktas_file),
        seed=args.seed,
        days=days,
        surge=args.surge,
    )
    return prepared, config, draws


def _demo_tokens(settings: Settings, service: Any, hpids: list[str]) -> Path:
    """A fresh token per centre for the emergency centre page, in a file only this user can read."""
    path = settings.var_dir / "demo" / "centre-tokens.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tokens = {hpid: service.create_token(hpid, "demo", valid_days=1) for hpid in hpids}
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)  # also when the file was there before
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        json.dump(tokens, file, indent=1)
    return path


def _start_dashboard(settings: Settings, env: dict[str, str], host: str, port: int) -> subprocess.Popen[bytes]:
    log = (settings.var_dir / "demo" / "dashboard.log").open("wb")
    options = {"address": host, "port": str(port), "headless": "true"}
    command = [sys.executable, "-m", "streamlit", "run", str(DASHBOARD), "--browser.gatherUsageStats", "false",
               "--client.toolbarMode", "viewer", "--theme.primaryColor", "#0b5d1e"]  # fmt: skip
    command += [part for name, value in options.items() for part in (f"--server.{name}", value)]
    process = subprocess.Popen(command, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT)
    health = f"http://{host}:{port}/_stcore/health"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        with contextlib.suppress(OSError), urllib.request.urlopen(health, timeout=2) as answer:
            if answer.status == 200:
                return process
        time.sleep(0.5)
    process.terminate()
    raise RuntimeError(f"the dashboard did not start; see {log.name}")


def _stop_process(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    from goldentime.services import (
        Server,
        broker_url,
        capacity_service,
        recorder_line,
        start_capacity_publisher,
        start_dispatcher,
        start_recorder,
        wait_for_stop,
    )
    from hospital_capacity.api import create_app
    from simulations.live import LiveCity, LiveSummary

    minutes = args.minutes or (2.0 if args.headless else MAX_DAYS * 24 * 60 / args.speed)
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    print("GoldenTime demo: preparing the city (roads, severity model, patients)...", flush=True)
    prepared, config, draws = _city(settings, args, minutes)
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(broker_url(settings))
        service = capacity_service(settings)
        tokens = _demo_tokens(settings, service, [c.hpid for c in prepared.scenario.centres])
        publisher, _ = start_capacity_publisher(settings, service, url)
        stack.callback(publisher.stop)
        api_port = _port_or_free(args.host, args.api_port)
        api = create_app(service, mqtt_connected=lambda: publisher.connected, cors_origins=settings.cors_origins)
        stack.callback(Server(api, args.host, api_port).stop)
        recorder = start_recorder(settings, url)
        stack.callback(lambda: print(recorder_line(recorder), flush=True))
        stack.callback(recorder.stop)
        dispatcher = start_dispatcher(settings, url, prepared=prepared)
        stack.callback(dispatcher.stop)
        protocol: str = recorder.client.protocol  # negotiated: the city and the dashboard speak it too
        run_id = f"D{time.strftime('%m%d%H%M%S')}"  # incident ids never repeat an earlier demo's on a kept broker
        city = LiveCity(prepared, config, draws, url=url, protocol=protocol, speed=args.speed, run_id=run_id)
        summaries: list[LiveSummary] = []
        runner = threading.Thread(target=lambda: summaries.append(city.run(minutes)), name="live-city", daemon=True)
        runner.start()
        stack.callback(runner.join, 15)
        stack.callback(city.stop)
        print(f"capacity API: http://{args.host}:{api_port}/docs (centre tokens for the demo: {tokens})")
        print(f"live city: {prepared.scenario.title}, {len(draws.calls)} calls, {args.speed:g}× real time")
        ended: Callable[[], bool] = lambda: not runner.is_alive()  # noqa: E731
        if not args.headless:
            env = {
                "GOLDENTIME_MQTT_URL": url,
                "GOLDENTIME_MQTT_PROTOCOL": protocol,
                "GOLDENTIME_SCENARIO": prepared.scenario.name,
                "GOLDENTIME_DATA_DIR": str(settings.data_dir.resolve()),
                "GOLDENTIME_VAR_DIR": str(settings.var_dir.resolve()),
                "GOLDENTIME_CAPACITY_API_URL": f"http://{args.host}:{api_port}",
                "GOLDENTIME_CLOCK_SPEED": f"{args.speed:g}",
                "GOLDENTIME_DEMO_TOKENS": str(tokens.resolve()),
            }
            port = _port_or_free(args.host, args.dashboard_port)
            dashboard = _start_dashboard(settings, env, args.host, port)
            stack.callback(_stop_process, dashboard)
            print(f"dashboard: http://{args.host}:{port}  (crew tablet: /crew, emergency centre: /centre, "
                  "what-if: /what-if)")  # fmt: skip
            ended = lambda: not runner.is_alive() or dashboard.poll() is not None  # noqa: E731
        print("running; Ctrl-C stops everything", flush=True)
        wait_for_stop(until=ended)
        print("stopping...", flush=True)
        city.stop()
        runner.join(15)
        for line in summaries[0].lines() if summaries else ["live run: did not finish"]:
            print(line)
        s = dispatcher.stats
        print(f"dispatcher: {s.messages} messages, {s.plans} plans, {s.advice} advice, {s.rejected} rejected")
    return 0
