"""The long-running services as the commands start them (``goldentime broker``, ``recorder``,
``dispatcher``, ``capacity-api``, ``demo``): where they connect, how they are built from the
settings, and how a command waits for Ctrl-C.

``goldentime dispatcher`` runs a :class:`RegionDispatcher`: one active dispatcher per region, holding the
region's lease (:mod:`telemetry.leader`), and any number of hot standbys that take over from it; the
decision state lives in the database (:mod:`telemetry.decision_store`), so the next leader decides on from
where its predecessor stopped (issue 26, ``docs/scaling.md``). As one region of a scenario of several (``national``)
it decides only for its region's units, incidents and centres (:mod:`dispatch.partition`), and reserves the beds it
promises at border centres in the bed ledger (:mod:`telemetry.bed_ledger`, :class:`dispatch.service.BorderBeds`), so
two regions never promise the same last bed."""

from __future__ import annotations

import contextlib
import gc
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from goldentime.settings import Settings

if TYPE_CHECKING:  # the services' own modules load when a command starts one, not on import
    from starlette.types import ASGIApp

    from dispatch.decision_state import EngineState, PatientState, RegionState, StateChanges
    from dispatch.partition import RegionMap
    from dispatch.scenario import Prepared
    from dispatch.service import Dispatcher
    from dispatch.severity.model import Scorer
    from hospital_capacity.publisher import CapacityPublisher
    from hospital_capacity.service import CapacityService
    from telemetry import schemas
    from telemetry.bed_ledger import BedLedger
    from telemetry.client import MqttClient
    from telemetry.decision_store import DecisionStore
    from telemetry.leader import Lease
    from telemetry.recorder import Recorder

log = logging.getLogger(__name__)


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


def shown(url: str | Sequence[str]) -> str:
    """Broker URLs as printed: each node (one URL, several separated by commas as ``GOLDENTIME_MQTT_URL`` takes them,
    or a list) without the account and password it may carry, separated by commas. Raises
    :class:`telemetry.client.BrokerUrlError` (its message without the password) for URLs that cannot be used."""
    from telemetry.client import parse_broker_urls

    return ",".join(str(node) for node in parse_broker_urls(url))


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


def stored_vitals(settings: Settings, *, upgrade: bool = True) -> Callable[[str], schemas.Vitals | None]:
    """The recorder's store as the dispatcher's memory: the newest vitals of a unit."""
    from telemetry import schemas
    from telemetry.store import TelemetryStore

    store = TelemetryStore.open(settings.resolved_database_url(), upgrade=upgrade)

    def last_vitals(unit_id: str) -> schemas.Vitals | None:
        payload = store.latest("vitals", unit_id)
        return None if payload is None else schemas.Vitals.model_validate(payload)

    return last_vitals


def dispatcher_client(
    settings: Settings, url: str, client_id: str, *, will: tuple[str, bytes] | None = None
) -> MqttClient:
    """The dispatcher's connection: a persistent session (the broker keeps its subscriptions and queues its
    QoS 1 messages while it is down, for an hour) and manual acknowledgement (a vitals message is acknowledged
    once its batch is decided and advised): a worker killed mid-batch loses no patient, the next one gets them.
    ``will``: the Last Will (topic, payload; retained, QoS 1) the broker publishes when the connection dies."""
    from telemetry.client import MqttClient

    return MqttClient(url, client_id, protocol=mqtt_protocol(settings), clean_session=False,
                      manual_ack=True, session_expiry_s=3600, will=will)  # fmt: skip


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


# --- one active dispatcher per region, and its hot standbys ----------------------------------------------------


#: How often a region's leader publishes its status again (``ems/dispatchers/{region}/status``, retained): the
#: control room reads a ``leading`` status older than three of these as a dispatcher that stopped answering.
STATUS_EVERY_S = 15.0
#: How long a leader that stops waits for its last status (``offline``) to reach the broker.
STATUS_GOODBYE_S = 2.0


def dispatcher_status(
    region: str,
    state: schemas.DispatcherState,
    *,
    epoch: int,
    since: datetime,
    ledger: schemas.LedgerState,
    detail: str | None = None,
    heartbeat_s: float = STATUS_EVERY_S,
) -> tuple[str, bytes]:
    """A region's dispatcher status (topic, payload) as its leader publishes it, or as its Last Will. ``detail`` is
    cut to one line of at most 300 characters."""
    from telemetry import schemas, topics

    note = " ".join(detail.split())[:300] if detail else None
    payload = schemas.DispatcherStatus.new(region=region, state=state, epoch=epoch, since=since, ledger=ledger,
                                           heartbeat_s=heartbeat_s, detail=note or None)  # fmt: skip
    return topics.build(topics.Kind.DISPATCHER_STATUS, topics.dispatcher_id(region)), schemas.encode(payload)


def region_client_id(region: str) -> str:
    """The MQTT client id of a region's leader: the same for every process of the region, so the one that takes
    over resumes its predecessor's persistent session and the QoS 1 messages queued in it (the broker
    disconnects an earlier holder of the id)."""
    return f"dispatcher-{region}"


class StatePersister:
    """What each batch changed of the decision state, written to the store under the lease's epoch (the
    dispatcher's ``persist``). Patients whose state did not change since it was last written are not written
    again; a store that holds a newer epoch means the lease has moved on: the lease is given up at once."""

    def __init__(self, store: DecisionStore, lease: Lease, restored: EngineState | None = None) -> None:
        self.store, self.lease = store, lease
        self._saved: dict[str, PatientState] = {} if restored is None else {p.unit_id: p for p in restored.patients}
        self._region: RegionState | None = None if restored is None else restored.region

    def __call__(self, changes: StateChanges) -> None:
        from dispatch.decision_state import encode_patient, encode_region
        from telemetry.decision_store import PatientRow, StaleEpoch

        epoch = self.lease.check()
        saved = self._saved
        upsert = [p for p in changes.patients if saved.get(p.unit_id) != p]
        gone = [u for u in changes.gone if u in saved]
        region = None if changes.region == self._region else changes.region
        if not upsert and not gone and region is None:
            return
        rows = [PatientRow(p.unit_id, p.patient_id, p.advice_version, p.owned, encode_patient(p)) for p in upsert]
        try:
            self.store.save(epoch, upsert=rows, gone=gone, region=None if region is None else encode_region(region))
        except StaleEpoch as exc:
            self.lease.lose(str(exc))
            raise
        for state in upsert:
            saved[state.unit_id] = state
        for unit_id in gone:
            del saved[unit_id]
        if region is not None:
            self._region = region


def load_decisions(store: DecisionStore, epoch: int) -> EngineState:
    """The region's decision state as stored. A document that cannot be read is logged and left out (that
    patient is rebuilt from their retained advice and stored vitals, as after a restart without a store)."""
    from pydantic import ValidationError

    from dispatch.decision_state import EngineState, RegionState, decode_patient, decode_region

    stored = store.load()
    patients = []
    for unit_id, document in sorted(stored.patients.items()):
        try:
            patients.append(decode_patient(document))
        except ValidationError as exc:
            log.error("stored decision state of unit %s cannot be read (%d errors); rebuilt from the bus instead",
                      unit_id, exc.error_count())  # fmt: skip
    region = RegionState()
    if stored.region is not None:
        try:
            region = decode_region(stored.region)
        except ValidationError as exc:
            log.error("stored state of region %s cannot be read (%d errors); left out", store.region,
                      exc.error_count())  # fmt: skip
    return EngineState(epoch, tuple(patients), region)


class RegionDispatcher:
    """``goldentime dispatcher --region NAME``: a hot standby until it holds the region's lease, then the region's
    one active dispatcher (MQTT client ``dispatcher-{region}``, persistent session, the stored decision state
    restored), and a standby again if it loses the lease. The scenario and the severity model are loaded before
    it waits, so taking over costs the connection and the state's read.

    Each line it prints starts ``dispatcher:``; the one that says it leads also says when (``at`` seconds since
    1970), for the fault tests to time a take-over."""

    def __init__(
        self,
        settings: Settings,
        url: str,
        region: str,
        prepared: Prepared,
        severity: Scorer,
        *,
        ttl_s: float | None = None,
        renew_s: float | None = None,
        poll_s: float | None = None,
        say: Callable[[str], None] = lambda line: print(line, flush=True),
        regions: RegionMap | None = None,
        ledger: BedLedger | None = None,
        status_every_s: float | None = None,
    ) -> None:
        from telemetry import leader, topics
        from telemetry.bed_ledger import BedLedger
        from telemetry.decision_store import DecisionStore

        self.settings, self.url, self.region = settings, url, leader.check_region(region)
        self.prepared, self.severity, self.say = prepared, severity, say
        self.poll_s = leader.POLL_EVERY_S if poll_s is None else poll_s
        self.lease = leader.Lease(settings.resolved_database_url(), region,
                                  ttl_s=leader.LEASE_TTL_S if ttl_s is None else ttl_s,
                                  renew_s=leader.RENEW_EVERY_S if renew_s is None else renew_s)  # fmt: skip
        self.store = DecisionStore(self.lease.engine, region)
        self.last_vitals = stored_vitals(settings, upgrade=False)
        #: Which units, incidents and centres are this region's (a scenario of several regions); None: all of them.
        self.regions = regions
        #: The border centres of the region's part: those serving a neighbour too, and the neighbours' serving it.
        self.border = border_centres(prepared, None if regions is None else regions.region)
        #: Where their beds are reserved (None: no border centre).
        self.ledger: BedLedger | None = None
        if self.border:
            self.ledger = ledger or BedLedger(settings.resolved_database_url())
        self.client_id = region_client_id(region)
        self.status_every_s = STATUS_EVERY_S if status_every_s is None else status_every_s
        topics.dispatcher_id(region)  # a region that cannot name a status topic is refused before it waits
        self.dispatcher: Dispatcher | None = None
        #: When this process last took the lease (``since`` of its status), and the ledger state it last published.
        self.since: datetime | None = None
        self._published: tuple[schemas.LedgerState, str | None] | None = None
        self._next_status = 0.0
        self._published_on: int | None = None  # the connection the status was last published on
        self.epoch: int | None = None
        self.terms = 0  # times this process took the lease
        #: Why the service cannot go on (a broker that cannot be reached when it took the lease); None: running.
        self.failure: Exception | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def leading(self) -> bool:
        return self.dispatcher is not None

    def start(self) -> RegionDispatcher:
        self._thread = threading.Thread(target=self._supervise, name=f"region-{self.region}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop (a leader gives its lease up: a standby takes over on its next poll)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
            self._thread = None
        self.lease.close()
        if self.ledger is not None:
            self.ledger.close()

    def line(self) -> str:
        """The console's periodic line."""
        dispatcher = self.dispatcher
        if dispatcher is None:
            return f"dispatcher: standby for region {self.region}; {self._holder()}"
        s = dispatcher.stats
        line = (f"dispatcher: region {self.region} leader (epoch {self.epoch}): {s.messages} messages, {s.plans} "
                f"plans, {s.advice} advice, {s.rejected} rejected, {s.stored} batches stored, last plan "
                f"{s.last_plan_ms:.1f} ms")  # fmt: skip
        if dispatcher.partition is not None:
            line += f"; {s.foreign} messages left to other regions"
        beds = dispatcher.beds
        if beds is not None:
            b = beds.stats
            line += (f"; border beds: {len(beds.held)} held, {b.reserved} reserved, {b.refused} refused "
                     f"(re-planned), {b.released} released")  # fmt: skip
            if beds.alert is not None:
                line += f"; ALERT {beds.alert[0]} / {beds.alert[1]}"
        return line

    def _holder(self) -> str:
        try:
            row = self.lease.current()
        except Exception as exc:  # a line on the console, never a reason to stop
            return f"the lease cannot be read ({type(exc).__name__})"
        if row is None:
            return "no leader yet"
        if row.expires_at <= 0:
            return f"the lease was given up (epoch {row.epoch})"
        return f"the lease is held by {row.holder} (epoch {row.epoch})"

    def _supervise(self) -> None:
        try:
            while not self._stop.is_set():
                if not self._try_lease():
                    self.say(f"dispatcher: standby for region {self.region}: {self._holder()}; taking over when it is "
                             f"given up, its holder dies, or it is not renewed for {self.lease.ttl_s:g} s")  # fmt: skip
                    if not self.lease.acquire(self._stop, poll_s=self.poll_s):
                        return
                if not self._lead():
                    return
                while not self._stop.is_set() and self.lease.valid() and not self._deposed():
                    self._report()
                    self._stop.wait(0.1)
                if self._stop.is_set():
                    return
                self._stand_down()
        finally:
            self._stand_down(stopping=True)

    def _try_lease(self) -> bool:
        import sqlalchemy as sa

        try:
            return self.lease.try_acquire()
        except sa.exc.SQLAlchemyError:
            return False  # acquire() says why, and tries again

    def _deposed(self) -> bool:
        return self.dispatcher is not None and self.dispatcher.deposed

    def _lead(self) -> bool:
        """Lead the region with the lease just taken; False when the service must end (see :attr:`failure`). A
        database that went away since the lease was taken (the decision state cannot be read) loses the lease: the
        process stands by again, as it does when a renewal fails."""
        import sqlalchemy as sa

        from dispatch.service import BorderBeds, Dispatcher
        from telemetry import schemas
        from telemetry.client import ConnectError
        from telemetry.errors import in_one_line

        took = time.monotonic()
        epoch = self.epoch = self.lease.check()
        self.lease.start_renewing()
        self.terms += 1
        try:
            restored = load_decisions(self.store, epoch)
        except sa.exc.OperationalError as exc:
            why = in_one_line(exc)
            self.lease.lose(f"the decision state cannot be read (epoch {epoch}): {why}")
            self.say(f"dispatcher: region {self.region}: the decision state cannot be read ({why}); not leading "
                     f"(epoch {epoch}), standing by")  # fmt: skip
            return True
        except Exception as exc:
            log.exception("the decision state of region %s cannot be read", self.region)
            self.failure = exc
            return False
        self.since, self._published = datetime.now(UTC), None
        will = self._status(schemas.DispatcherState.OFFLINE, detail="connection lost (Last Will)")
        client = dispatcher_client(self.settings, self.url, self.client_id, will=will)
        beds = None
        if self.ledger is not None:
            beds = BorderBeds(self.ledger, region=self.region, border=self.border,
                              refresh_s=self.ledger.ttl.total_seconds() / 5, on_stale=self.lease.lose)  # fmt: skip
        dispatcher = Dispatcher(client, self.prepared, self.severity, last_vitals=self.last_vitals, epoch=epoch,
                                restore=restored, persist=StatePersister(self.store, self.lease, restored),
                                fence=self.lease.valid, regions=self.regions, beds=beds)  # fmt: skip
        try:
            dispatcher.start()
        except ConnectError as exc:
            dispatcher.stop()
            self.failure = exc
            return False
        self.dispatcher = dispatcher
        scenario = self.prepared.scenario
        mode = "exact road ETAs" if self.prepared.exact else "APPROXIMATE ETAs (no road graph)"
        self.say(f"dispatcher: scenario {scenario.name}, {len(scenario.centres)} centres, {mode}, on "
                 f"{client.describe()} as {self.client_id}")  # fmt: skip
        self.say(f"dispatcher: region {self.region} leader (epoch {epoch}, at {time.time():.3f}): "
                 f"{len(restored.patients)} patients' decision state restored, "
                 f"{(time.monotonic() - took) * 1000:.0f} ms from the lease to deciding")  # fmt: skip
        self._report()  # leading, with this epoch: the control room sees the new leader at once
        return True

    def _ledger(self) -> tuple[schemas.LedgerState, str | None]:
        """The border-bed ledger as the leader last found it, and why it could not be reached."""
        from telemetry import schemas

        dispatcher = self.dispatcher
        beds = None if dispatcher is None else dispatcher.beds
        if beds is None:
            return schemas.LedgerState.NONE, None
        why = beds.unreachable
        return (schemas.LedgerState.OK, None) if why is None else (schemas.LedgerState.UNREACHABLE, why)

    def _status(self, state: schemas.DispatcherState, *, detail: str | None = None) -> tuple[str, bytes]:
        from telemetry import schemas

        assert self.epoch is not None and self.since is not None
        ledger = self._ledger()[0] if state is schemas.DispatcherState.LEADING else (
            schemas.LedgerState.OK if self.ledger is not None else schemas.LedgerState.NONE)  # fmt: skip
        return dispatcher_status(self.region, state, epoch=self.epoch, since=self.since, ledger=ledger,
                                 detail=detail, heartbeat_s=self.status_every_s)  # fmt: skip

    def _report(self) -> None:
        """Publish the leader's status (retained) when its ledger's state changed, or its heartbeat is due."""
        from telemetry import schemas

        dispatcher = self.dispatcher
        if dispatcher is None:
            return
        ledger = self._ledger()
        now = time.monotonic()
        connection = dispatcher.client.connection
        if connection is None:
            return  # published once the connection is back
        # A new connection: the broker published the Last Will ("offline") when the last one died; say "leading"
        # again at once rather than at the next beat.
        if ledger == self._published and now < self._next_status and connection == self._published_on:
            return
        topic, payload = self._status(schemas.DispatcherState.LEADING, detail=ledger[1])
        try:
            dispatcher.client.publish(topic, payload, qos=1, retain=True)
        except Exception as exc:  # a status is never a reason to stop leading; the next beat tries again
            log.warning("dispatcher: status of region %s not published: %s", self.region, exc)
            return
        self._published, self._published_on = ledger, connection
        self._next_status = now + self.status_every_s

    def _stand_down(self, *, stopping: bool = False) -> None:
        """Stop deciding: no more publishing or acknowledging; the lease is given up (or already lost)."""
        dispatcher, self.dispatcher = self.dispatcher, None
        lost = not self.lease.valid()
        if dispatcher is not None:
            if not lost:  # still the leader: nobody else can have said anything since
                self._goodbye(dispatcher, "stopped" if stopping else "standing down")
            dispatcher.stop()
        self.lease.release()
        if dispatcher is not None and lost and not stopping:
            self.say(f"dispatcher: region {self.region}: lost the lease (epoch {self.epoch}); nothing more published "
                     "or acknowledged; standing by")  # fmt: skip

    def _goodbye(self, dispatcher: Dispatcher, why: str) -> None:
        """A leader that stops while it still holds the lease says so (retained ``offline``: a clean disconnect does
        not send its Last Will). One that lost the lease says nothing: a successor may lead already (its ``leading``
        must stand), and the client would reconnect with the successor's client id to say it; the control room
        then sees the successor's status, or this one's heartbeat go stale."""
        from telemetry import schemas

        topic, payload = self._status(schemas.DispatcherState.OFFLINE, detail=why)
        try:
            dispatcher.client.publish(topic, payload, qos=1, retain=True).wait(STATUS_GOODBYE_S)
        except Exception as exc:
            log.warning("dispatcher: offline status of region %s not published: %s", self.region, exc)


def border_centres(prepared: Prepared, region: str | None) -> frozenset[str]:
    """The border centres of a region's part (:class:`dispatch.scenario.Scenario.region`): its own centres that also
    serve a neighbour, and the neighbours' centres serving it (``region`` None: a scenario of one region, whose
    centres serve no neighbour)."""
    return frozenset(
        c.hpid for c in prepared.scenario.centres if c.also_serves or (region is not None and c.region != region)
    )


def start_region_dispatcher(
    settings: Settings,
    url: str,
    *,
    region: str | None = None,
    prepared: Prepared | None = None,
    ttl_s: float | None = None,
) -> RegionDispatcher:
    """Prepare the scenario (unless given) and the severity model, then start the region's dispatcher: it leads
    when it gets the lease, else stands by. ``region`` defaults to the scenario's name; for a scenario of several
    regions (``national``) it must be one of them (``gwangju``), and the dispatcher decides for that region's part
    (its stations, its centres and the border centres serving it: ``national:gwangju``); raises
    :class:`dispatch.scenario.ScenarioError` for a region the scenario does not have."""
    from dispatch.partition import RegionMap
    from loaders.scenarios import load_scenario, prepare
    from loaders.severity import load_or_train

    regions = None
    if prepared is None:
        scenario = load_scenario(scenario_name(settings, None), settings.data_dir)
        if region is not None and ":" not in scenario.name and len(scenario.regions) > 1:
            regions = RegionMap.of(scenario, region)  # every region's stations: whose is a unit, an incident
            scenario = scenario.region(region)
        elif ":" in scenario.name:  # one region of a scenario named whole (national:gwangju): the same map
            whole, code = scenario.name.split(":", 1)
            regions = RegionMap.of(load_scenario(whole, settings.data_dir), code)
        prepared = prepare(scenario, cache_dir=settings.cache_dir)
    severity = load_or_train(settings.data_dir, settings.model_dir)
    service = RegionDispatcher(settings, url, region or prepared.scenario.name, prepared, severity, ttl_s=ttl_s,
                               regions=regions)  # fmt: skip
    freeze_heap()
    return service.start()
