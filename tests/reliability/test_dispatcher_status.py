"""A region's dispatcher on the control room: ``ems/dispatchers/{region}/status`` (retained), on a private Mosquitto
from the shipped configuration (its ACL lets the dispatcher account write it, and its Last Will there).

- ``goldentime dispatcher --region`` processes: the leader's ``leading`` status (its epoch) is retained; killed
  (SIGKILL, no goodbye), the broker publishes its Last Will, the retained status turns ``offline`` with the dead
  leader's epoch, and the standby that takes over says ``leading`` with its own, higher one.
- A leader whose connection drops for a moment (a proxy cut): the broker publishes its Last Will, and the leader says
  ``leading`` again as soon as it is reconnected, not at its next heartbeat.
- A leader of a region with a border centre (the two-region scenario of tests/dispatch/test_engine_regions.py), in
  process, whose bed ledger is made unreachable: its status says ``ledger: unreachable`` with the error, and
  ``ok`` again once the ledger answers.

Needs the ``mosquitto`` binary, as CI has."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from dispatch.partition import RegionMap
from dispatch.severity.model import TrainedSeverity
from goldentime.services import RegionDispatcher
from goldentime.settings import Settings
from telemetry import schemas, topics
from telemetry.bed_ledger import BedLedger, LedgerUnavailable
from telemetry.client import Message, MqttClient
from tests.dispatch.bus import capacity, critical_vitals
from tests.dispatch.test_engine_regions import WEST, G, J, X, prepared_of, two_regions
from tests.helpers import unique, wait_until
from tests.reliability.fleet import Broker, Region, new_region
from tests.reliability.proxy import CuttableProxy

pytestmark = pytest.mark.integration

Status = schemas.DispatcherStatus


class Watcher:
    """The test's own client (admin account): every dispatcher status it receives, in order."""

    def __init__(self, broker: Broker) -> None:
        self.seen: list[tuple[str, Status]] = []
        self._lock = threading.Lock()
        self.client = MqttClient(broker.url("admin"), unique("watch"), on_message=self._on)
        self.client.subscribe(topics.subscription(topics.Kind.DISPATCHER_STATUS), qos=1)
        self.client.start()

    def _on(self, message: Message) -> None:
        if message.payload:
            payload = schemas.decode(topics.Kind.DISPATCHER_STATUS, message.payload)
            assert isinstance(payload, Status)
            with self._lock:
                self.seen.append((message.topic, payload))

    def last(self, region: str) -> Status | None:
        topic = topics.build(topics.Kind.DISPATCHER_STATUS, topics.dispatcher_id(region))
        with self._lock:
            found = [p for t, p in self.seen if t == topic]
        return found[-1] if found else None

    def saw(self, region: str, test: Callable[[Status], bool]) -> bool:
        last = self.last(region)
        return last is not None and test(last)


def retained(broker: Broker, region: str) -> Status:
    """The region's status as the broker keeps it (what a control room started now gets first)."""
    fresh = Watcher(broker)
    try:
        assert wait_until(lambda: fresh.last(region) is not None, timeout_s=10)
        status = fresh.last(region)
        assert status is not None
        return status
    finally:
        fresh.client.stop()


@pytest.fixture
def watcher(region_broker: Broker) -> Iterator[Watcher]:
    made = Watcher(region_broker)
    yield made
    made.client.stop()


def test_a_leaders_status_is_retained_its_last_will_says_offline_and_its_successor_leads_with_a_new_epoch(
    region_broker: Broker, watcher: Watcher, var_dir: Path, tmp_path: Path, region_of: list[Region]
) -> None:
    region = new_region(region_of, region_broker, f"sqlite:///{tmp_path / 'gt.sqlite3'}", var_dir, tmp_path)
    first, second = region.start("first", "second")
    leader = region.leader()
    standby = second if leader is first else first
    epoch = leader.epoch()
    name = region.region

    def leads(with_epoch: int, status: Status) -> bool:
        return status.state is schemas.DispatcherState.LEADING and status.epoch == with_epoch

    assert wait_until(partial(watcher.saw, name, partial(leads, epoch)), timeout_s=20), watcher.seen
    kept = retained(region_broker, name)
    assert leads(epoch, kept) and kept.region == name and kept.ledger is schemas.LedgerState.NONE
    assert kept.heartbeat_s == 15.0

    leader.signal(signal.SIGKILL)
    leader.process.wait(10)

    # The dead leader said nothing: the offline status with its epoch is its Last Will, sent by the broker when the
    # connection died, before the standby took the lease over and said it leads.
    assert wait_until(lambda: standby.epoch() > epoch, timeout_s=60), region.logs()
    successor = standby.epoch()
    assert wait_until(partial(watcher.saw, name, partial(leads, successor)), timeout_s=20), watcher.seen
    said = [(s.state, s.epoch, s.detail) for t, s in watcher.seen if s.region == name]
    will = said.index((schemas.DispatcherState.OFFLINE, epoch, "connection lost (Last Will)"))
    took_over = said.index((schemas.DispatcherState.LEADING, successor, None))
    assert will < took_over, said
    assert leads(successor, retained(region_broker, name))

    standby.stop()  # a clean stop says offline too (no Last Will is sent then)
    assert wait_until(partial(watcher.saw, name, lambda s: s.state is schemas.DispatcherState.OFFLINE
                                                           and s.epoch == standby.epoch()), timeout_s=10)  # fmt: skip
    last = watcher.last(name)
    assert last is not None and last.detail == "stopped"


def test_a_leader_cut_off_for_a_moment_says_it_leads_again_once_reconnected(
    region_broker: Broker, watcher: Watcher, tmp_path: Path, severity: TrainedSeverity
) -> None:
    whole = two_regions()
    name = "gwangju"
    settings = Settings(var_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'gt.sqlite3'}")
    url = urlsplit(region_broker.url("dispatcher"))
    with CuttableProxy((url.hostname or "127.0.0.1", url.port or 1883)) as proxy:
        through = url._replace(netloc=url.netloc.rsplit(":", 1)[0] + f":{proxy.port}").geturl()
        # A heartbeat far off: only the reconnection can bring "leading" back within the test.
        service = RegionDispatcher(settings, through, name, prepared_of(whole.region(name)), severity, ttl_s=30.0,
                                   renew_s=0.5, poll_s=0.1, say=lambda _: None, regions=RegionMap.of(whole, name),
                                   status_every_s=3600.0)  # fmt: skip
        service.start()
        try:
            assert wait_until(lambda: service.leading or service.failure is not None, timeout_s=30)
            assert service.failure is None

            def leading(s: Status) -> bool:
                return s.state is schemas.DispatcherState.LEADING and s.epoch == 1

            assert wait_until(partial(watcher.saw, name, leading), timeout_s=10), watcher.seen
            proxy.cut()
            offline = partial(watcher.saw, name, lambda s: s.state is schemas.DispatcherState.OFFLINE)
            assert wait_until(offline, timeout_s=15), watcher.seen  # the broker saw the connection die: its Will
            proxy.restore()
            assert wait_until(partial(watcher.saw, name, leading), timeout_s=60), watcher.seen
            assert service.leading and leading(retained(region_broker, name))
        finally:
            service.stop()


class FlakyLedger:
    """Makes a bed ledger's calls fail (LedgerUnavailable, as an unreachable database does) while ``down``."""

    def __init__(self, ledger: BedLedger, monkeypatch: pytest.MonkeyPatch) -> None:
        self.down = False
        for name in ("reserve", "release", "rebase", "refresh", "held_at"):
            monkeypatch.setattr(ledger, name, self._wrap(getattr(ledger, name)))

    def _wrap(self, work: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            if self.down:
                raise LedgerUnavailable("bed ledger at sqlite:///ledger: unable to open database file")
            return work(*args, **kwargs)

        return call


def test_an_unreachable_ledger_turns_the_status_unreachable_and_back(
    region_broker: Broker, watcher: Watcher, tmp_path: Path, severity: TrainedSeverity,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    whole = two_regions()
    name = "gwangju"
    settings = Settings(var_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'gt.sqlite3'}")
    ledger = BedLedger(f"sqlite:///{tmp_path / 'ledger.sqlite3'}")
    flaky = FlakyLedger(ledger, monkeypatch)
    service = RegionDispatcher(settings, region_broker.url("dispatcher"), name, prepared_of(whole.region(name)),
                               severity, ttl_s=2.0, renew_s=0.5, poll_s=0.1, say=lambda _: None,
                               regions=RegionMap.of(whole, name), ledger=ledger)  # fmt: skip
    city = MqttClient(region_broker.url("admin"), unique("city")).start()
    service.start()
    try:
        assert wait_until(lambda: service.leading or service.failure is not None, timeout_s=30)
        assert service.failure is None

        def ledger_is(state: schemas.LedgerState) -> Callable[[Status], bool]:
            return lambda s: s.state is schemas.DispatcherState.LEADING and s.ledger is state and s.epoch == 1

        assert wait_until(partial(watcher.saw, name, ledger_is(schemas.LedgerState.OK)), timeout_s=10), watcher.seen
        unit = "U01-0"  # a gwangju ambulance of the scenario's fleet
        for hpid in (X, G, J):
            city.send(topics.Topic(topics.Kind.CAPACITY, hpid), capacity(schemas.utc_now(), beds=1)).wait(5)
        city.send(topics.Topic(topics.Kind.STATUS, unit), schemas.Status.new(status=schemas.UnitStatus.TRANSPORTING))
        city.send(topics.Topic(topics.Kind.POSITION, unit), schemas.Position.new(lat=WEST[0], lon=WEST[1]))

        flaky.down = True
        city.send(topics.Topic(topics.Kind.VITALS, unit), critical_vitals())
        down = ledger_is(schemas.LedgerState.UNREACHABLE)
        assert wait_until(partial(watcher.saw, name, down), timeout_s=15), watcher.seen
        last = watcher.last(name)
        assert last is not None and last.detail == "bed ledger at sqlite:///ledger: unable to open database file"
        assert down(retained(region_broker, name))

        flaky.down = False
        city.send(topics.Topic(topics.Kind.VITALS, unit), critical_vitals())
        assert wait_until(partial(watcher.saw, name, ledger_is(schemas.LedgerState.OK)), timeout_s=15), watcher.seen
        last = watcher.last(name)
        assert last is not None and last.detail is None
    finally:
        service.stop()
        city.stop()
        ledger.close()
    last = watcher.last(name)
    assert last is not None and last.state is schemas.DispatcherState.OFFLINE and last.detail == "stopped"
