"""The long-running services as the commands start them (``goldentime broker``, ``recorder``,
``dispatcher``, ``capacity-api``, ``demo``): where they connect, how they are built from the
settings, and how a command waits for Ctrl-C."""

from __future__ import annotations

import contextlib
import gc
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from goldentime.settings import Settings

if TYPE_CHECKING:  # the services' own modules load when a command starts one, not on import
    from starlette.types import ASGIApp

    from dispatch.scenario import Prepared
    from dispatch.service import Dispatcher
    from hospital_capacity.publisher import CapacityPublisher
    from hospital_capacity.service import CapacityService
    from telemetry import schemas
    from telemetry.client import MqttClient
    from telemetry.recorder import Recorder


def wait_for_stop(
    tick: Callable[[], None] | None = None,
    *,
    seconds: float | None = None,
    every_s: float = 10,
    until: Callable[[], bool] | None = None,
) -> None:
    """Block until Ctrl-C / SIGTERM, ``seconds`` or ``until()`` turning true, calling ``tick`` every ``every_s``."""
    stop = threading.Event()
    in_main = threading.current_thread() is threading.main_thread()  # signals can only be caught there
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM) if in_main}
    deadline = None if seconds is None else time.monotonic() + seconds
    next_tick = time.monotonic() + every_s
    try:
        while not stop.wait(0.25):
            now = time.monotonic()
            if (deadline is not None and now >= deadline) or (until is not None and until()):
                return
            if tick is not None and now >= next_tick:
                tick()
                next_tick = now + every_s
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def broker_url(settings: Settings) -> Iterator[str]:
    """The configured broker, or an embedded one for the duration of the block."""
    if settings.mqtt_url:
        yield settings.mqtt_url
        return
    from telemetry.broker import EmbeddedBroker

    with EmbeddedBroker() as broker:
        print(f"embedded MQTT broker: {broker.url} (set GOLDENTIME_MQTT_URL to use another broker)", flush=True)
        yield broker.url


def mqtt_protocol(settings: Settings) -> str | None:
    """The MQTT version a command's clients speak: ``GOLDENTIME_MQTT_PROTOCOL`` when set (no fallback); else
    3.1.1 to the embedded broker a command starts itself, and for a broker URL ``None``: the client negotiates
    (MQTT 5, and 3.1.1 when the broker refuses it, as ``goldentime broker`` does)."""
    if settings.mqtt_protocol:
        return settings.mqtt_protocol
    return None if settings.mqtt_url else "3.1.1"


def shown(url: str) -> str:
    """A broker URL as printed: without the account and password it may carry."""
    from telemetry.client import BrokerAddress

    return str(BrokerAddress.parse(url))


def start_recorder(settings: Settings, url: str) -> Recorder:
    """Start the recorder (every ``ems/#`` message into SQL) on ``url``."""
    from telemetry.recorder import run_recorder
    from telemetry.spool import Spool

    spool = None
    if settings.recorder_spool_mb > 0:
        spool = Spool(settings.recorder_spool_path, int(settings.recorder_spool_mb * 1e6))
    recorder = run_recorder(
        url,
        settings.resolved_database_url(),
        client_id=settings.recorder_client_id,
        batch_size=settings.recorder_batch_size,
        flush_interval_s=settings.recorder_flush_interval_s,
        keepalive_s=settings.mqtt_keepalive_s,
        protocol=mqtt_protocol(settings),
        spool=spool,
    )
    print(f"recorder: ems/# on {recorder.client.describe()} -> {recorder.store.engine.url.render_as_string()}",
          flush=True)  # fmt: skip
    if spool is not None and spool.waiting:
        print(f"recorder: {spool.waiting} messages kept on disk ({spool.path}) go to the database first", flush=True)
    return recorder


def recorder_line(recorder: Recorder) -> str:
    s = recorder.stats
    line = f"recorder: {s.accepted} messages stored, {s.rejected} rejected, {s.db_errors} database errors"
    waiting = recorder.spool.waiting if recorder.spool is not None else 0
    return line + (f", {waiting} kept on disk until the database is back" if waiting else "")


def scenario_name(settings: Settings, requested: str | None) -> str:
    from loaders.scenarios import default_scenario

    return requested or settings.scenario or default_scenario(settings.data_dir)


def start_capacity_publisher(settings: Settings, service: CapacityService, url: str) -> tuple[CapacityPublisher, str]:
    """Start the capacity publisher, its first connection made here: a broker that cannot be reached ends the
    command with the cause (:class:`telemetry.client.ConnectError`) instead of a publisher retrying unseen in the
    background. Later connections speak the protocol the first one settled on. Returns the publisher and where
    it publishes (``mqtt://host:port (MQTT 5)``)."""
    from hospital_capacity.publisher import CapacityPublisher
    from telemetry.client import MqttClient

    first = MqttClient(url, "goldentime-capacity-api", protocol=mqtt_protocol(settings)).start()
    unused = [first]

    def make_client() -> MqttClient:
        return unused.pop() if unused else MqttClient(url, "goldentime-capacity-api", protocol=first.protocol)

    return CapacityPublisher(service, make_client).start(), first.describe()


def capacity_service(settings: Settings) -> CapacityService:
    from hospital_capacity.service import CapacityService, seed_rows
    from hospital_capacity.store import CapacityStore

    service = CapacityService(CapacityStore.open(settings.resolved_database_url()))
    service.seed(seed_rows(settings.data_dir))
    return service


class Server:
    """An ASGI app served by uvicorn on a background thread."""

    def __init__(self, app: ASGIApp, host: str, port: int) -> None:
        import uvicorn

        self._server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
        self._thread = threading.Thread(target=self._server.run, name="uvicorn", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(10)


def serve(app: ASGIApp, host: str, port: int, *, seconds: float | None = None) -> None:
    """Run an ASGI app with uvicorn until Ctrl-C (or ``seconds``)."""
    server = Server(app, host, port)
    try:
        wait_for_stop(seconds=seconds)
    finally:
        server.stop()


def stored_vitals(settings: Settings) -> Callable[[str], schemas.Vitals | None]:
    """The recorder's store as the dispatcher's memory: the newest vitals of a unit."""
    from telemetry import schemas
    from telemetry.store import TelemetryStore

    store = TelemetryStore.open(settings.resolved_database_url())

    def last_vitals(unit_id: str) -> schemas.Vitals | None:
        payload = store.latest("vitals", unit_id)
        return None if payload is None else schemas.Vitals.model_validate(payload)

    return last_vitals


def dispatcher_client(settings: Settings, url: str, client_id: str) -> MqttClient:
    """The dispatcher's connection: a persistent session (the broker keeps its subscriptions and queues its
    QoS 1 messages while it is down, for an hour) and manual acknowledgement (a vitals message is acknowledged
    once its batch is decided and advised): a worker killed mid-batch loses no patient, the next one gets them."""
    from telemetry.client import MqttClient

    return MqttClient(url, client_id, protocol=mqtt_protocol(settings), clean_session=False,
                      manual_ack=True, session_expiry_s=3600)  # fmt: skip


def freeze_heap() -> None:
    """Put every object alive now (the libraries, the road index, the severity model) out of the garbage
    collector's reach, for a service that has finished starting: its full collections then scan only what it
    builds later. Each full collection holds every thread of the process, decisions included: in one run of the
    decision-latency benchmark (1,500 units) without this, its 4 full collections took 113-188 ms each; with it,
    4 of the run's 8 took under 4 ms, the longest 127 ms."""
    gc.collect()  # what is garbage now is freed, not frozen
    gc.freeze()


def start_dispatcher(
    settings: Settings,
    url: str,
    *,
    client_id: str = "goldentime-dispatcher",
    share_group: str | None = None,
    prepared: Prepared | None = None,
) -> Dispatcher:
    """Prepare the scenario (unless given) and the severity model, and start the dispatcher worker on ``url``."""
    from dispatch.service import Dispatcher
    from loaders.scenarios import load_scenario, prepare
    from loaders.severity import load_or_train

    if prepared is None:
        scenario = load_scenario(scenario_name(settings, None), settings.data_dir)
        prepared = prepare(scenario, cache_dir=settings.cache_dir)
    name = prepared.scenario.name
    severity = load_or_train(settings.data_dir, settings.model_dir)
    client = dispatcher_client(settings, url, client_id)
    freeze_heap()
    dispatcher = Dispatcher(
        client, prepared, severity, share_group=share_group, last_vitals=stored_vitals(settings)
    ).start()
    mode = "exact road ETAs" if prepared.exact else "APPROXIMATE ETAs (no road graph)"
    print(f"dispatcher: scenario {name}, {len(prepared.scenario.centres)} centres, {mode}, on {client.describe()}",
          flush=True)  # fmt: skip
    return dispatcher
