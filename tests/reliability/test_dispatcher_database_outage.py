"""Fault: PostgreSQL goes away under a region's dispatchers while 120 units stream (issue 26). The lease and the
decision state are in the database, so the database is on the dispatcher's path: a leader that cannot renew its
lease must stop advising, and no one may advise while no one can store; once the database is back, one process
takes the lease, the vitals kept in the persistent session ``dispatcher-{region}`` are decided, and every patient
is advised.

A leader and a hot standby (real ``goldentime dispatcher --region`` processes, a private Mosquitto, the helpers of
tests/reliability/fleet.py that ``test_failover`` uses too), each reaching PostgreSQL through a TCP proxy of its own
(:class:`CuttableProxy`), so that a test can take the database away from every process at once (an outage: the
server, or the network in front of it, is gone) or from the leader alone (a partition: the standby still reaches the
database). Three faults in a row:

- ``short``: an outage shorter than the lease time-out;
- ``long``: an outage longer than the lease time-out;
- ``partition``: the leader alone cut off for longer than the lease time-out; the standby takes over meanwhile.

What must hold for each: the deposed leader publishes nothing once its successor advises (the advice received
never goes back to an older epoch, overall or for any patient); exactly one new epoch per fault (no flapping); no
process dies or logs a traceback or an error; no patient sent during an outage is advised before it ends (nothing
is published that is not stored); every patient is advised, those in flight or sent while the database was away
within the lease time-out + 5 s of its return (of the fault, for a partition), the others within that of their
vitals. The test prints its figures (``FIGURE ...``). PostgreSQL only (GOLDENTIME_TEST_DATABASE_URL, as CI sets
it): the lease of a SQLite database has no server to go away."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path

import pytest
import sqlalchemy as sa

from dispatch.decision_state import epoch_of
from telemetry import schemas
from tests.helpers import unique, wait_until
from tests.reliability.fleet import (
    STREAM_UNITS,
    TTL_S,
    Broker,
    Dispatcher,
    Fleet,
    Region,
    Seen,
    Stream,
    advised_in,
    first_advice_of,
    new_region,
)
from tests.reliability.proxy import CuttableProxy

pytestmark = pytest.mark.integration

#: A patient is advised within this of their vitals, or of the database's return when it was away meanwhile.
LIMIT_S = TTL_S + 5


@dataclass
class Fault:
    """One fault of the run, and what was seen of it (times from ``time.time()``)."""

    name: str
    down_s: float
    everyone: bool  # the database goes away for every process (an outage), or for the leader alone (a partition)
    leader: str = ""  # the process leading when it came
    epoch: int = 0  # its epoch
    cut_at: float = 0.0
    restored_at: float = 0.0
    successor: str = ""
    new_epoch: int = 0
    took_at: float = 0.0  # when the successor said it leads
    first_at: float = 0.0  # the first advice of the new epoch received
    last_old_at: float = 0.0  # the last advice of an older epoch received
    stood_down_at: float = 0.0  # when the leader logged that it lost the lease
    waiting: int = 0  # patients sent before the database came back not advised yet (an outage)

    @property
    def back_at(self) -> float:
        """When a process could lead again: the database back, or at once for a partition (the standby reaches it)."""
        return self.restored_at if self.everyone else self.cut_at

    def describe(self) -> str:
        what = (f"PostgreSQL cut off from both processes for {self.restored_at - self.cut_at:.1f} s"
                if self.everyone else
                f"the leader alone cut off from PostgreSQL for {self.restored_at - self.cut_at:.1f} s")  # fmt: skip
        return f"{self.name} ({what}, lease time-out {TTL_S:g} s)"


def faults() -> list[Fault]:
    """The faults of a run, in order."""
    return [
        Fault("short", down_s=TTL_S - 3, everyone=True),
        Fault("long", down_s=TTL_S + 4, everyone=True),
        Fault("partition", down_s=TTL_S + 4, everyone=False),
    ]


def deadline(sent_at: float, faults: list[Fault]) -> float:
    """When a patient sent at ``sent_at`` must be advised: LIMIT_S after their vitals, or after the database came
    back (for a partition: after the fault) if it went while they were in flight or before they were sent."""
    due = sent_at + LIMIT_S
    for fault in faults:
        if sent_at <= fault.back_at and due >= fault.cut_at:
            due = max(due, fault.back_at + LIMIT_S)
    return due


def epochs_go_back(advice: list[Seen]) -> list[Seen]:
    """Advice received after advice of a newer epoch (overall, in the order received)."""
    newest, back = 0, []
    for seen in advice:
        epoch = epoch_of(seen.version)
        if epoch < newest:
            back.append(seen)
        newest = max(newest, epoch)
    return back


def last_advice_before(fleet: Fleet, epoch: int) -> float:
    """When the last advice of an epoch older than ``epoch`` was received (0: none)."""
    with fleet.lock:
        return max((s.at for s in fleet.advice if epoch_of(s.version) < epoch), default=0.0)


def not_advised(fleet: Fleet, before: float) -> int:
    """Patients sent before ``before`` without advice yet."""
    advised = fleet.advised()
    with fleet.lock:
        return sum(1 for p, t in fleet.sent.items() if t <= before and p not in advised)


def unadvised_by(when: float, sent: dict[str, float], advised: dict[str, Seen], before: float) -> int:
    """Patients sent before ``before`` who had no advice at ``when``."""
    return sum(1 for p, t in sent.items() if t <= before and (p not in advised or advised[p].at > when))


def stood_down_at(process: Dispatcher, epoch: int) -> float:
    """When ``process`` logged that it lost the lease of ``epoch`` (its log's local time; 0: it did not)."""
    found = re.search(rf"^(\S+ \S+) WARNING telemetry\.leader: \S+ lost the lease of region \S+: .*\(epoch {epoch}\)",
                      process.text(), re.MULTILINE)  # fmt: skip
    return 0.0 if found is None else datetime.strptime(found[1], "%Y-%m-%d %H:%M:%S,%f").timestamp()


def figure(fault: Fault, sent: dict[str, float], advised: dict[str, Seen]) -> str:
    """What was measured of ``fault``, in one line."""
    since = "the database came back" if fault.everyone else "the cut"
    during = sum(1 for t in sent.values() if fault.cut_at <= t <= fault.restored_at)
    line = (f"{fault.describe()}, {STREAM_UNITS} units streaming: leader {fault.leader} (epoch {fault.epoch}) "
            f"advised last {fault.last_old_at - fault.cut_at:+.2f} s from the cut and stood down "
            f"{fault.stood_down_at - fault.cut_at:+.2f} s from it; {fault.successor} took the lease "
            f"(epoch {fault.new_epoch}) and advised {fault.took_at - fault.back_at:.2f} / "
            f"{fault.first_at - fault.back_at:.2f} s after {since}; advice stopped for "
            f"{fault.first_at - fault.last_old_at:.2f} s; {during} patients sent while cut off")  # fmt: skip
    if fault.everyone:
        line += f", {fault.waiting} without advice when the database came back"
    late = unadvised_by(fault.back_at + LIMIT_S, sent, advised, fault.back_at)
    return line + f"; {late} of those sent until then without advice {LIMIT_S:g} s after {since}"


def run_fault(fault: Fault, region: Region, proxies: dict[str, CuttableProxy], fleet: Fleet) -> None:
    leader = region.leader()
    fault.leader, fault.epoch = leader.name, region.epoch()
    assert leader.epoch() == fault.epoch
    cut = list(proxies.values()) if fault.everyone else [proxies[leader.name]]
    for proxy in cut:
        proxy.cut()
    fault.cut_at = time.time()  # every connection through the proxies cut
    time.sleep(fault.down_s)  # the units go on streaming
    if fault.everyone:
        assert region.epoch() == fault.epoch, "a lease was taken while no process could reach the database"
    fault.restored_at = time.time()
    fault.waiting = not_advised(fleet, fault.restored_at)
    for proxy in cut:
        proxy.restore()
    assert wait_until(partial(advised_in, fleet, fault.epoch + 1), timeout_s=TTL_S + 30, every_s=0.05), \
        region.logs()  # fmt: skip
    successor = region.leader()
    fault.successor, (fault.new_epoch, fault.took_at) = successor.name, successor.led()[-1]
    first = first_advice_of(fleet, fault.epoch + 1)
    assert first is not None
    fault.first_at = first
    time.sleep(LIMIT_S)  # the units go on streaming, decided by the successor
    fault.last_old_at = last_advice_before(fleet, fault.new_epoch)
    assert region.epoch() == fault.new_epoch == fault.epoch + 1, f"the lease changed hands again: {region.logs()}"
    assert f"lost the lease (epoch {fault.epoch})" in leader.text(), f"the leader did not stand down: {region.logs()}"
    fault.stood_down_at = stood_down_at(leader, fault.epoch)


def test_the_database_going_away_under_the_region_stops_advice_until_it_is_back_and_loses_no_patient(
    postgresql_url: str, region_broker: Broker, var_dir: Path, region_of: list[Region], tmp_path: Path
) -> None:
    url = sa.make_url(postgresql_url)
    proxies = {name: CuttableProxy((url.host or "127.0.0.1", url.port or 5432)) for name in ("a", "b")}
    region = new_region(region_of, region_broker, postgresql_url, var_dir, tmp_path)
    fleet = Fleet(region_broker, [unique("U") for _ in range(STREAM_UNITS)])
    stream: Stream | None = None
    run = faults()
    try:
        for name, proxy in proxies.items():  # "a" leads, "b" stands by; each through its own proxy
            region.env["GOLDENTIME_DATABASE_URL"] = url.set(host="127.0.0.1", port=proxy.port).render_as_string(
                hide_password=False
            )
            region.start(name)
        fleet.on_duty(schemas.UnitStatus.TRANSPORTING)
        stream = Stream(fleet)
        assert wait_until(lambda: len(fleet.advised()) >= 20, timeout_s=30), "no advice before the faults"
        for fault in run:
            run_fault(fault, region, proxies, fleet)
        stream.stop()
        # every patient sent gets advice, within LIMIT_S of their vitals or of the database's return
        assert wait_until(lambda: set(fleet.advised()) >= set(fleet.sent), timeout_s=LIMIT_S)
        alive = {p.name: p.process.poll() for p in region.processes}
    finally:
        if stream is not None:
            stream.stop()
        fleet.stop()
        region.stop()  # before the proxies close: a clean stop, whose log is read below
        for proxy in proxies.values():
            proxy.close()
    assert alive == {"a": None, "b": None}, f"a dispatcher died: {alive}"
    codes = {p.name: p.process.returncode for p in region.processes}
    assert codes == {"a": 0, "b": 0}, f"a dispatcher did not stop cleanly: {codes}"
    troubled = [p.name for p in region.processes if re.search(r"Traceback| ERROR | CRITICAL ", p.text())]
    assert not troubled, [p.text()[-4000:] for p in region.processes]

    advised, sent = fleet.advised(), dict(fleet.sent)
    missing = sorted(set(sent) - set(advised))
    late = sorted((round(advised[p].at - deadline(t, run), 1), p) for p, t in sent.items()
                  if p in advised and advised[p].at > deadline(t, run))  # fmt: skip
    assert not missing and not late, f"{len(missing)} patients without advice, {len(late)} advised late: {late[:5]}"
    for fault in [f for f in run if f.everyone]:  # nothing advised that was not stored: none while none can store
        early = [p for p, t in sent.items() if fault.cut_at < t and advised[p].at < fault.restored_at]
        assert not early, f"{fault.name}: {len(early)} patients sent during the outage advised before it ended"
    back = epochs_go_back(fleet.advice)
    assert not back, f"advice of a deposed leader after its successor's: {back[:3]}"
    for patient in sent:
        mine = [epoch_of(s.version) for s in fleet.advice if s.patient == patient]
        assert mine == sorted(mine), f"patient {patient} advised by two leaders in turn: epochs {mine}"
    assert sorted({epoch_of(s.version) for s in fleet.advice}) == list(range(1, len(run) + 2))

    for fault in run:
        print(f"\nFIGURE dispatcher database outage: {figure(fault, sent, advised)}")
    worst = max(advised[p].at - t for p, t in sent.items())
    print(f"FIGURE dispatcher database outage: {len(sent)} patients sent, {len(missing)} without advice, slowest "
          f"advised {worst:.1f} s after their vitals; advice epochs "
          f"{sorted({epoch_of(s.version) for s in fleet.advice})}")  # fmt: skip
