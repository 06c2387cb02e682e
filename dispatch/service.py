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

This is the only module of ``dispatch`` that touches the bus (any :class:`telemetry.bus.Bus`: the MQTT
client, or the in-memory bus of the tests).
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from dispatch.commands import Advise, Command, NoticeToUnit, Refuse
from dispatch.decision_state import EngineState, StateChanges
from dispatch.engine import DispatchEngine, UnitState
from dispatch.errors import DispatchError
from dispatch.events import AdviceSeen, Event, Tick, VitalsReported
from dispatch.router import RouterConfig
from dispatch.scenario import Prepared
from dispatch.severity.model import Scorer
from dispatch.units import Incident
from dispatch.wire import event_of, publications
from telemetry import schemas, topics
from telemetry.bus import Bus, Message

log = logging.getLogger(__name__)

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
        if restore is not None:
            self.engine.restore(restore, advise_again=True)
            self.stats.restored = len(restore.patients)
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
            try:
                batch = [self._queue.get(timeout=IDLE_S)]
            except queue.Empty:
                # changes that waited for their turn, requests past their answer time, restored patients
                due = self.engine.due(self.clock()) or self.engine.resuming
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

    def _tick(self) -> bool:
        """Apply a tick; False when the lease turned out to be gone."""
        try:
            self._commit(self.engine.apply([Tick()], self.clock()))
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
        for message in batch:
            found = event_of(message.topic, message.payload)
            if found is None:
                continue  # a cleared retained message
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
        commands = self.engine.apply(events, self.clock())
        stats.vitals += sum(type(e) is VitalsReported for e in events)
        if self.engine.plans != plans:
            stats.plans, stats.last_plan_ms = self.engine.plans, (time.perf_counter() - started) * 1000
        self._commit(commands)

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
