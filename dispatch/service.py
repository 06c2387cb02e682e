"""The dispatcher worker (``goldentime dispatcher``): the decision engine on the bus.

A short shell: messages from the bus are taken in batches (everything waiting is decided together),
translated into events (:mod:`dispatch.wire`), applied to the engine (:mod:`dispatch.engine`), whose
commands are translated back into messages and published; only then are the batch's messages
acknowledged (``manual_ack``: the broker redelivers what a killed worker had not handled). A batch that
fails is logged and the loop goes on; a malformed message is refused by the wire (on
``ems/rejected/dispatcher`` and, for a unit's own message, ``ems/units/{unit}/rejected``) and never
reaches the engine.

It subscribes to unit positions, vitals, status and decisions, centre capacity and incidents. On start
it rebuilds the state from the retained messages (unit status, advice, capacity), so no patient loses
their advice across a restart; with ``last_vitals`` (the recorder's store) a patient's needs and crew
flags come back too.

As a region's leader (``goldentime dispatcher --region``, :mod:`goldentime.services`), it is given the lease's
``epoch`` (in every advice version it issues), the decision state its predecessor stored (``restore``: every
patient's needs, declines, requests and advice versions, decided again and advised with this epoch's versions at
once), a ``persist`` callback that stores what each batch changed, and a ``fence`` that says whether it still
holds the lease. Each batch is then: decide, store (retried while the lease holds; a store refusing a stale epoch
deposes it), check the fence, publish, acknowledge. A dispatcher that finds its lease gone stops at once
(:attr:`Dispatcher.deposed`) without publishing or acknowledging the batch: the broker hands its messages to the
next leader, which takes over the same persistent session.

As one region's dispatcher of a scenario of several (``national``), it is given the region's map
(``regions``: :class:`dispatch.partition.RegionMap`): every message still comes (a unit's topic does not name its
region), and :class:`dispatch.partition.Partition` picks out the region's own units, incidents, centres and answers
before the engine sees them; the others' are neither decided nor refused. With ``beds`` (:class:`BorderBeds`, the
bed ledger of :mod:`telemetry.bed_ledger`), a bed promised at a border centre is reserved before the advice goes
out, so two regions never promise the same last bed: see :class:`BorderBeds`.

This is the only module of ``dispatch`` that touches the bus (any :class:`telemetry.bus.Bus`: the MQTT
client, or the in-memory bus of the tests).
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import ParamSpec, Protocol, TypeVar

from dispatch.commands import Advise, Command, NoticeToUnit, NotifyInbound, PublishRequests, Refuse, TellRequest
from dispatch.decision_state import EngineState, StateChanges
from dispatch.engine import DispatchEngine, UnitState
from dispatch.errors import DispatchError
from dispatch.events import (
    AdviceSeen,
    BedLost,
    BedsHeld,
    CapacityReported,
    Event,
    PositionReported,
    Tick,
    VitalsReported,
)
from dispatch.explain import Text
from dispatch.partition import Partition, RegionMap
from dispatch.router import RouterConfig
from dispatch.scenario import Prepared
from dispatch.severity.model import Scorer
from dispatch.units import Incident
from dispatch.wire import event_of, publications
from telemetry import schemas, topics
from telemetry.bed_ledger import BedLedgerError, LedgerUnavailable, StaleLeaderError
from telemetry.bus import Bus, Message
from telemetry.schemas import UnitStatus

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

#: How long the loop waits for a message before sending the pre-notification lists that waited for their turn.
IDLE_S = 0.2
#: A batch whose decision state could not be stored is stored again after this long (while the lease holds).
PERSIST_RETRY_S = 0.5


class _Deposed(DispatchError):
    """The lease is gone (or the worker is stopping) before the batch could be stored or published."""


@dataclass
class DispatcherStats:
    messages: int = 0
    vitals: int = 0
    rejected: int = 0
    refused_decisions: int = 0  # of those, crews' decisions on advice that changed (or never was)
    notices: int = 0  # messages kept but not yet acted on, told to their unit (vitals before any position)
    plans: int = 0
    advice: int = 0
    last_plan_ms: float = 0.0  # the last batch that planned: scoring, state, plan and advice
    restored: int = 0  # patients whose decision state came back from the store at take-over
    stored: int = 0  # batches whose decision state was stored
    store_retries: int = 0  # attempts to store a batch's decision state that failed and were made again
    foreign: int = 0  # messages left to other regions' dispatchers (their units, incidents, centres)


#: Rounds a batch is decided again in when the ledger refuses border beds; refusals left after the last wait for
#: the next batch (their advice unpublished, the patients decided again then).
BED_ROUNDS = 3
#: What the control room is told when the bed ledger cannot be reached (Korean, English), and when it is back.
LEDGER_DOWN: Text = (
    "경계 응급센터 병상 장부에 연결할 수 없음: 이 지역의 계획대로 권고하며(다른 지역이 같은 병상을 약속할 수 있음) "
    "다음 배치에서 다시 시도합니다 — {why}",
    "the border-bed ledger cannot be reached: advising on this region's own plan (another region may promise the "
    "same bed) and trying again at the next batch — {why}",
)
LEDGER_BACK: Text = ("경계 응급센터 병상 장부에 다시 연결됨", "the border-bed ledger is reachable again")


class Ledger(Protocol):
    """What :class:`BorderBeds` needs of the bed ledger (:class:`telemetry.bed_ledger.BedLedger`)."""

    def reserve(
        self, hpid: str, patient_id: str, *, region: str, epoch: int, free_beds: int, report_at: datetime
    ) -> bool: ...

    def release(
        self, hpid: str, patient_id: str, *, region: str, epoch: int, arrived_at: datetime | None = None
    ) -> bool: ...

    def rebase(self, hpid: str, free_beds: int, report_at: datetime) -> bool: ...

    def refresh(self, region: str, epoch: int, patient_ids: Collection[str]) -> frozenset[str]: ...

    def held_at(self, hpids: Collection[str], *, excluding_region: str | None = None) -> dict[str, int]: ...


@dataclass
class BedStats:
    reserved: int = 0  # reservations made or refreshed by advice
    refused: int = 0  # reservations refused: another region holds the centre's last beds
    rounds: int = 0  # extra rounds of deciding after refusals
    deferred: int = 0  # refused advice still without a bed after BED_ROUNDS rounds: decided again next batch
    released: int = 0
    lost: int = 0  # reservations a keep-alive found gone (expired): reserved again
    failures: int = 0  # ledger calls that failed (the ledger unreachable)


def er_report(capacity: schemas.Capacity) -> tuple[int, datetime] | None:
    """A report's free ER general beds (0 when overcrowded) and their time; None when the count is not known (no
    bed is ever reserved against an unknown count)."""
    er = capacity.beds.get(schemas.BedType.ER_GENERAL)
    if er is None or (er.available is None and not er.overcrowded):
        return None
    return (0 if er.overcrowded else int(er.available or 0)), (er.updated_at or capacity.updated_at)


class BorderBeds:
    """The beds of a region's border centres, reserved in the bed ledger around each batch of the engine (the
    shell does the I/O; the engine gets the counts as events):

    1. a capacity report of a border centre with a known ER count rebases the ledger;
    2. before a batch that may plan, the beds other regions hold there go into the engine (:class:`BedsHeld`);
    3. after it, every advice promising a bed at a border centre reserves it; a refusal withdraws that advice
       (and its unit from the centre's lists), and the batch is decided again for that patient with the refreshed
       counts and the centre read as full (:class:`BedLost`; at most :data:`BED_ROUNDS` rounds), the new border
       destination reserved in turn;
    4. a patient moved elsewhere, declined, refused, diverted or whose trip ended gives the bed up (on arrival,
       held until the centre's next report counts them);
    5. every ``refresh_s`` the region's reservations are kept alive, and at once when a new leader starts;
    6. a stale epoch deposes the leader (:class:`StaleLeaderError`); an unreachable ledger leaves the region's own
       plan standing, raises :attr:`alert` and is tried again at the next batch.
    """

    def __init__(
        self,
        ledger: Ledger,
        *,
        region: str,
        border: Collection[str],
        refresh_s: float = 60.0,
        on_stale: Callable[[str], None] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ledger, self.region, self.border = ledger, region, frozenset(border)
        self.refresh_s, self.on_stale, self.monotonic = refresh_s, on_stale, monotonic
        self.stats = BedStats()
        #: patient -> (unit, centre) of the beds this region holds
        self.held: dict[str, tuple[str, str]] = {}
        #: The alert raised while the ledger cannot be reached (Korean, English); None: none.
        self.alert: Text | None = None
        #: Why the ledger could not be reached, in one technical line, while :attr:`alert` stands (the region's
        #: dispatcher status carries it: ``ems/dispatchers/{region}/status``); None: reachable.
        self.unreachable: str | None = None
        self.engine: DispatchEngine | None = None
        self.epoch = 0
        self._unreserved: dict[str, tuple[str, str]] = {}  # promised beds not reserved yet (ledger down, expired)
        self._releasing: dict[str, tuple[str, str, datetime | None]] = {}  # releases still to make
        self._pending: list[Event] = []  # refusals left after the last round, for the next batch
        self._last_held: tuple[tuple[str, int], ...] = ()
        self._taking_over: list[str] | None = None
        self._next_refresh = 0.0
        self._down = False  # the ledger failed in this batch: no more calls until the next

    def bind(self, engine: DispatchEngine, epoch: int, restored: EngineState | None = None) -> None:
        """The engine whose advice it reserves for, its epoch, and what it restored (kept alive first)."""
        self.engine, self.epoch = engine, epoch
        self._next_refresh = self.monotonic() + self.refresh_s
        if restored is not None:
            self._taking_over = []
            for p in restored.patients:
                if p.owned and p.destination in self.border and p.bed and p.holds_bed:
                    self.held[p.patient_id] = (p.unit_id, p.destination)
                    self._taking_over.append(p.patient_id)

    @property
    def due(self) -> bool:
        """Work waits for a batch: refusals to decide again, beds to reserve or release."""
        return bool(self._pending or self._unreserved or self._releasing or self._taking_over is not None)

    # --- around a batch -----------------------------------------------------------------------------------

    def before(self, events: Sequence[Event]) -> list[Event]:
        """The batch as the engine gets it: the ledger rebased on its border reports, the beds other regions hold
        first, refusals carried over from the last batch."""
        self._down = False
        self._take_over()
        self._release_waiting()
        extra: list[Event] = self._pending
        self._pending = []
        for event in events:
            if type(event) is CapacityReported and event.hpid in self.border:
                report = er_report(event.capacity)
                if report is not None:
                    self._call(self.ledger.rebase, event.hpid, *report)
        extra += self._reserve_unreserved()
        if not extra and all(type(e) is PositionReported for e in events):
            return list(events)  # positions alone seldom plan: the counts of the last batch stand
        held = self._held_elsewhere()
        return [BedsHeld(held), *extra, *events]

    def settle(self, commands: Sequence[Command], now: datetime) -> list[Command]:
        """The batch's commands with every border bed its advice promises reserved: advice refused a bed is
        withdrawn and its patient decided again (see the class docstring); then beds no longer needed released."""
        engine = self.engine
        assert engine is not None, "bind() first"
        out, fresh = list(commands), list(commands)
        refused: dict[str, set[str]] = {}
        full: set[str] = set()
        for round_ in range(BED_ROUNDS + 1):
            lost = self._reserve_all(fresh)
            if not lost:
                break
            gone = {id(a) for a in lost}
            out = [c for c in out if id(c) not in gone]
            for advice in lost:
                refused.setdefault(advice.unit_id, set()).add(advice.destination.hpid)
                full.add(advice.destination.hpid)
            if round_ == BED_ROUNDS:
                self._pending += [BedLost(a.unit_id, a.destination.hpid) for a in lost]
                self.stats.deferred += len(lost)
                log.warning("dispatcher: %d patients still refused a border bed after %d rounds; decided again at the "
                            "next batch", len(lost), BED_ROUNDS)  # fmt: skip
                break
            self.stats.rounds += 1
            events: list[Event] = [BedsHeld(self._held_elsewhere(), frozenset(full))]
            events += [BedLost(a.unit_id, a.destination.hpid) for a in lost]
            fresh = engine.apply(events, now)
            out += fresh
        if refused:
            out = self._without(out, refused)
        self._reconcile(now)
        return out

    def keep_alive(self) -> None:
        """Every ``refresh_s``: the region's reservations extended; those found gone are reserved again."""
        if self.monotonic() < self._next_refresh:
            return
        self._next_refresh = self.monotonic() + self.refresh_s
        if self.held:
            self._refresh(list(self.held))

    # --- internals ----------------------------------------------------------------------------------------

    def _call(self, work: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T | None:
        """``work(*args, **kwargs)``, a ledger call: a stale epoch deposes the leader; an unreachable ledger raises
        the alert (and no more calls are made in this batch); None when it failed."""
        if self._down:
            return None
        try:
            result = work(*args, **kwargs)
        except StaleLeaderError as exc:
            if self.on_stale is not None:
                self.on_stale(str(exc))
            raise _Deposed(str(exc)) from exc
        except LedgerUnavailable as exc:
            self._down = True
            self.stats.failures += 1
            why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            if self.alert is None:
                log.warning("dispatcher: %s / %s", LEDGER_DOWN[0].format(why=why), LEDGER_DOWN[1].format(why=why))
            self.alert = (LEDGER_DOWN[0].format(why=why), LEDGER_DOWN[1].format(why=why))
            self.unreachable = why
            return None
        except BedLedgerError as exc:  # an input the ledger cannot store (an over-long patient id): not reserved
            log.error("dispatcher: the bed ledger refused a call: %s", exc)
            return None
        if self.alert is not None:
            log.warning("dispatcher: %s / %s", *LEDGER_BACK)
            self.alert = self.unreachable = None
        return result

    def _held_elsewhere(self) -> tuple[tuple[str, int], ...]:
        if not self.border:
            return ()
        found = self._call(self.ledger.held_at, self.border, excluding_region=self.region)
        if found is not None:
            self._last_held = tuple(sorted((h, int(n)) for h, n in found.items() if n))
        return self._last_held

    def _promise(self, advice: Advise) -> tuple[int, datetime] | None:
        """The report a bed at a border centre is reserved against, if the advice promises one there."""
        engine = self.engine
        assert engine is not None
        on_arrival = advice.destination.beds_on_arrival
        unit = engine.units.get(advice.unit_id)
        if advice.destination.hpid not in self.border or not on_arrival or on_arrival <= 0:
            return None
        if unit is None or not unit.holds_bed:
            return None
        capacity = engine.capacity.get(advice.destination.hpid)
        return None if capacity is None else er_report(capacity)

    def _reserve(self, unit_id: str, patient_id: str, hpid: str, report: tuple[int, datetime]) -> bool | None:
        """Reserve; True: held, False: refused, None: the ledger could not be asked (kept to try again)."""
        ok = self._call(self.ledger.reserve, hpid, patient_id, region=self.region, epoch=self.epoch,
                        free_beds=report[0], report_at=report[1])  # fmt: skip
        if ok is None:
            self._unreserved[patient_id] = (unit_id, hpid)
            return None
        self._unreserved.pop(patient_id, None)
        if ok:
            self.held[patient_id] = (unit_id, hpid)
            self._releasing.pop(patient_id, None)
            self.stats.reserved += 1
            return True
        self.stats.refused += 1
        return False

    def _reserve_all(self, commands: Sequence[Command]) -> list[Advise]:
        """Reserve the beds the advice among ``commands`` promises at border centres; the advice refused one."""
        lost = []
        for command in commands:
            if type(command) is not Advise:
                continue
            report = self._promise(command)
            if report is None:
                continue
            if self._reserve(command.unit_id, command.patient_id, command.destination.hpid, report) is False:
                lost.append(command)
        return lost

    def _reserve_unreserved(self) -> list[Event]:
        """Beds promised while the ledger could not be reached (or found expired), reserved now; a refusal has the
        patient decided again (their advice stood on the region's own plan meanwhile)."""
        engine = self.engine
        assert engine is not None
        lost: list[Event] = []
        for patient_id, (unit_id, hpid) in list(self._unreserved.items()):
            unit = engine.units.get(unit_id)
            capacity = engine.capacity.get(hpid)
            report = None if capacity is None else er_report(capacity)
            if unit is None or unit.patient_id != patient_id or unit.destination != hpid or report is None:
                del self._unreserved[patient_id]
                continue
            if self._reserve(unit_id, patient_id, hpid, report) is False:
                lost.append(BedLost(unit_id, hpid))
        return lost

    def _without(self, commands: list[Command], refused: dict[str, set[str]]) -> list[Command]:
        """``commands`` without what they say of refused beds: the unit off the lists of a centre it is no longer
        going to, and no word to the crew about its request there."""
        engine = self.engine
        assert engine is not None
        away = {}  # unit -> centres refused that it no longer goes to
        for unit_id, hpids in refused.items():
            unit = engine.units.get(unit_id)
            away[unit_id] = {h for h in hpids if unit is None or unit.destination != h}
        out: list[Command] = []
        for command in commands:
            if type(command) is NotifyInbound:
                kept = tuple(p for p in command.patients if command.hpid not in away.get(p.unit_id, ()))
                command = dataclasses.replace(command, patients=kept) if len(kept) != len(command.patients) else command
            elif type(command) is PublishRequests:
                kept_requests = tuple(r for r in command.requests if command.hpid not in away.get(r.unit_id, ()))
                if len(kept_requests) != len(command.requests):
                    command = dataclasses.replace(command, requests=kept_requests)
            elif type(command) is TellRequest and command.hpid in refused.get(command.unit_id, ()):
                unit = engine.units.get(command.unit_id)
                if unit is None or command.advice_version != unit.advice_version:
                    continue  # about advice that was not published
            out.append(command)
        return out

    def _reconcile(self, now: datetime) -> None:
        """Release the beds of patients no longer going there: moved, declined, refused, diverted, or the trip
        over (arrived: held until the centre's next report)."""
        engine = self.engine
        assert engine is not None
        for patient_id, (unit_id, hpid) in list(self.held.items()):
            unit = engine.units.get(unit_id)
            if unit is not None and unit.patient_id == patient_id and unit.destination == hpid:
                continue
            del self.held[patient_id]
            arrived = unit is not None and unit.patient_id != patient_id and unit.status is UnitStatus.AT_HOSPITAL
            self._releasing[patient_id] = (unit_id, hpid, now if arrived else None)
        self._release_waiting()

    def _release_waiting(self) -> None:
        for patient_id, (_, hpid, arrived) in list(self._releasing.items()):
            done = self._call(self.ledger.release, hpid, patient_id, region=self.region, epoch=self.epoch,
                              arrived_at=arrived)  # fmt: skip
            if done is None:
                return  # tried again at the next batch
            del self._releasing[patient_id]
            self.stats.released += 1

    def _take_over(self) -> None:
        """A new leader's first batch: the beds its predecessor reserved for the restored patients kept alive."""
        if self._taking_over is None:
            return
        patients, self._taking_over = self._taking_over, None
        if patients:
            self._refresh(patients)

    def _refresh(self, patients: list[str]) -> None:
        kept = self._call(self.ledger.refresh, self.region, self.epoch, patients)
        if kept is None:
            return
        for patient_id in patients:
            if patient_id not in kept and patient_id in self.held:
                self._unreserved[patient_id] = self.held.pop(patient_id)  # expired: reserved again next batch
                self.stats.lost += 1


class Dispatcher:
    def __init__(
        self,
        client: Bus,
        prepared: Prepared,
        severity: Scorer,
        *,
        config: RouterConfig | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        share_group: str | None = None,
        last_vitals: Callable[[str], schemas.Vitals | None] | None = None,
        epoch: int = 1,
        restore: EngineState | None = None,
        persist: Callable[[StateChanges], None] | None = None,
        fence: Callable[[], bool] | None = None,
        regions: RegionMap | None = None,
        beds: BorderBeds | None = None,
    ) -> None:
        self.client = client
        self.engine = DispatchEngine(prepared, severity, config=config, share_group=share_group, epoch=epoch)
        self.clock = clock
        self.share_group = share_group
        #: The newest stored vitals of a unit (the recorder's store), to restore a patient's
        #: needs and severity exactly after a restart; None: rebuild from retained advice alone.
        self.last_vitals = last_vitals
        #: Stores what a batch changed of the decision state, before the batch is published and acknowledged.
        self.persist = persist
        #: True while this worker may act (it holds its region's lease); None: always.
        self.fence = fence
        #: The lease was found gone: the worker stopped without publishing or acknowledging its last batch.
        self.deposed = False
        self.stats = DispatcherStats()
        #: Picks this region's own out of the bus (a region's dispatcher of a scenario of several); None: all.
        self.partition = None if regions is None else Partition(regions)
        #: Reserves the beds of border centres its advice promises; None: no border centre (or no ledger).
        self.beds = beds
        if restore is not None:
            self.engine.restore(restore, advise_again=True)
            self.stats.restored = len(restore.patients)
            if self.partition is not None:
                self.partition.claim((p.unit_id, p.lat, p.lon) for p in restore.patients if p.owned)
        if beds is not None:
            beds.bind(self.engine, epoch, restore)
        self._queue: queue.SimpleQueue[Message] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        client.on_message = self._queue.put

    # --- what the engine holds (for the control room's console, the tests and the benchmarks) ---------

    @property
    def prepared(self) -> Prepared:
        return self.engine.prepared

    @property
    def units(self) -> dict[str, UnitState]:
        return self.engine.units

    @property
    def capacity(self) -> dict[str, schemas.Capacity]:
        return self.engine.capacity

    @property
    def incidents(self) -> dict[str, Incident]:
        return self.engine.incidents

    # --- lifecycle -----------------------------------------------------------------------

    def start(self, timeout_s: float = 10.0) -> Dispatcher:
        # State every worker needs: where units are, what they do, what was advised (retained:
        # rebuilds the state after a restart), what centres can take.
        for kind in (topics.Kind.POSITION, topics.Kind.STATUS, topics.Kind.ADVICE, topics.Kind.CAPACITY):
            self.client.subscribe(topics.subscription(kind), qos=topics.CONTRACT[kind].qos)
        # Work: with a share group, each message goes to one worker of the group only.
        prefix = f"$share/{self.share_group}/" if self.share_group else ""
        for kind in (topics.Kind.VITALS, topics.Kind.DECISION, topics.Kind.INCIDENT, topics.Kind.ANSWER):
            self.client.subscribe(prefix + topics.subscription(kind), qos=topics.CONTRACT[kind].qos)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="dispatcher", daemon=True)
        self._thread.start()
        self.client.start(timeout_s)
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None
        self.client.stop()

    def _run(self) -> None:
        while not self._stop.is_set():
            if not self._may_act():
                self._depose()
                return
            if not self._keep_beds():
                return
            try:
                batch = [self._queue.get(timeout=IDLE_S)]
            except queue.Empty:
                # changes that waited for their turn, requests past their answer time, restored patients, beds
                due = self.engine.due(self.clock()) or self.engine.resuming or (self.beds is not None and self.beds.due)
                if due and not self._tick():
                    return
                continue
            while True:  # everything already waiting is decided together
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                self.handle_batch(batch)
            except _Deposed:
                self._depose()  # not acknowledged: the broker gives them to the next leader
                return
            except Exception:  # the loop never dies; the error is logged with its traceback
                log.exception("dispatcher failed on a batch of %d messages", len(batch))
            for message in batch:  # with manual_ack: only now may the broker forget them (see start_dispatcher)
                self.client.ack(message)

    def _keep_beds(self) -> bool:
        """Keep the region's border beds alive (every ``refresh_s``); False when the lease turned out to be gone."""
        if self.beds is None:
            return True
        try:
            self.beds.keep_alive()
        except _Deposed:
            self._depose()
            return False
        return True

    def _tick(self) -> bool:
        """Apply a tick; False when the lease turned out to be gone."""
        try:
            self._commit(self._decide([Tick()]))
        except _Deposed:
            self._depose()
            return False
        except Exception:
            log.exception("dispatcher failed on a tick")
        return True

    def _may_act(self) -> bool:
        return self.fence is None or self.fence()

    def _depose(self) -> None:
        if self._stop.is_set():
            return  # stopping, not deposed
        if not self.deposed:
            log.warning("dispatcher: the lease is gone; stopping without publishing or acknowledging the last batch")
        self.deposed = True

    # --- bus -> wire -> engine -> wire -> bus ----------------------------------------------------------

    def handle_batch(self, batch: list[Message]) -> None:
        """Decide on a batch of messages and publish what follows (the caller acknowledges them)."""
        started = time.perf_counter()
        events: list[Event] = []
        refused: list[Command] = []
        found_all = [found for message in batch if (found := event_of(message.topic, message.payload)) is not None]
        if self.partition is not None:  # this region's own only: the others' are their dispatchers'
            kept = self.partition.sort(found_all)
            self.stats.foreign = self.partition.stats.foreign
            found_all = kept
        for found in found_all:  # (None: a cleared retained message)
            if isinstance(found, Refuse):
                refused.append(found)
            elif isinstance(found, AdviceSeen) and self.last_vitals is not None and self.engine.rebuilds(found.unit_id):
                events.append(dataclasses.replace(found, stored=self._stored(found.unit_id)))
            else:
                events.append(found)
        stats = self.stats
        stats.messages += len(batch)
        if refused:
            if not self._may_act():
                raise _Deposed
            self._publish(refused)  # refused whatever becomes of the rest of the batch
        plans = self.engine.plans
        commands = self._decide(events)
        stats.vitals += sum(type(e) is VitalsReported for e in events)
        if self.engine.plans != plans:
            stats.plans, stats.last_plan_ms = self.engine.plans, (time.perf_counter() - started) * 1000
        self._commit(commands)

    def _decide(self, events: Sequence[Event]) -> list[Command]:
        """The engine's commands for ``events``, with the border beds they promise reserved (``beds``)."""
        now = self.clock()
        if self.beds is None:
            return self.engine.apply(events, now)
        return self.beds.settle(self.engine.apply(self.beds.before(events), now), now)

    def _commit(self, commands: Sequence[Command]) -> None:
        """Store what the batch changed of the decision state (with ``persist``), then publish its commands, as
        long as the worker still holds its lease; raises :class:`_Deposed` otherwise."""
        if self.persist is not None:
            self._store(self.engine.changes())
        if not self._may_act():
            raise _Deposed
        self._publish(commands)

    def _store(self, changes: StateChanges) -> None:
        """Store ``changes``; a store that fails (a database outage) is tried again while the lease holds: the
        batch waits (its messages are not acknowledged), and nothing is published that is not stored."""
        assert self.persist is not None
        failing = False
        while True:
            try:
                self.persist(changes)
                self.stats.stored += 1
                if failing:
                    log.warning("dispatcher: the decision state is stored again")
                return
            except Exception as exc:
                if not self._may_act():
                    raise _Deposed from exc
                if not failing:
                    log.warning("dispatcher: decision state not stored (%s); the batch waits and is tried again",
                                str(exc).splitlines()[0] if str(exc) else type(exc).__name__)  # fmt: skip
                failing = True
                self.stats.store_retries += 1
            if self._stop.wait(PERSIST_RETRY_S):
                raise _Deposed  # stopping: the batch is neither published nor acknowledged

    def _stored(self, unit_id: str) -> schemas.Vitals | None:
        """The unit's newest stored vitals (the store is an aid to recovery, never a reason to stop)."""
        assert self.last_vitals is not None
        try:
            return self.last_vitals(unit_id)
        except Exception:
            log.exception("could not read the stored vitals of %s", unit_id)
            return None

    def _publish(self, commands: Sequence[Command]) -> None:
        stats, client = self.stats, self.client
        for command in commands:
            if type(command) is Advise:
                stats.advice += 1
            elif type(command) is Refuse:
                stats.rejected += 1
                stats.refused_decisions += command.decision
            elif type(command) is NoticeToUnit:
                stats.notices += 1
            for topic, payload, qos, retain in publications(command):
                client.publish(topic, payload, qos=qos, retain=retain)
