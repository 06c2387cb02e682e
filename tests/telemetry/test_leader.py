"""The region lease (telemetry.leader): taken by one process at a time, renewed, lost with the holder's process or
connection at once, taken over from a frozen holder after its time-out (the holder stands down when it wakes), and
its epoch counted up each time it changes hands. SQLite always; PostgreSQL with GOLDENTIME_TEST_DATABASE_URL (a
database of the test's own). Holders that die or freeze are real processes (SIGKILL, SIGSTOP)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from telemetry.leader import Lease, LeaseError, LeaseLost, lock_key
from tests.helpers import unique, wait_until
from tests.reliability.proxy import CuttableProxy

pytestmark = pytest.mark.integration

#: A holder in a process of its own: takes the lease, then renews it every 0.5 s, printing "renewed" after each
#: renewal and "lost" once its lease is not valid (then it tries to renew once more and says how that went).
HOLDER = """
import sys, time
from telemetry.leader import Lease
lease = Lease(sys.argv[1], sys.argv[2], ttl_s=float(sys.argv[3]), renew_s=0.5)
assert lease.try_acquire()
print("epoch", lease.epoch, flush=True)
while lease.valid():
    renewed = lease.renew()
    print("renewed" if renewed else "not renewed", flush=True)
    time.sleep(0.5)
print("lost", flush=True)
print("renew again:", lease.renew(), flush=True)
time.sleep(60)
"""


class Holder:
    """A lease holder in a child process; its output in a file."""

    def __init__(self, url: str, region: str, ttl_s: float, log: Path) -> None:
        self.log = log
        with log.open("wb") as sink:
            self.process = subprocess.Popen([sys.executable, "-c", HOLDER, url, region, str(ttl_s)],
                                            stdout=sink, stderr=subprocess.STDOUT)  # fmt: skip
        assert wait_until(lambda: "renewed" in self.output() or self.process.poll() is not None, timeout_s=60)
        assert self.process.poll() is None, self.output()

    def output(self) -> str:
        return self.log.read_text()

    def renewals(self) -> int:
        return self.output().count("\nrenewed")

    def signal(self, sig: signal.Signals) -> None:
        os.kill(self.process.pid, sig)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)


@pytest.fixture
def region() -> str:
    return unique("region")


@pytest.fixture
def leases(database_url: str, region: str) -> Iterator[list[Lease]]:
    """Leases of the test's region, made with ``make`` below and closed afterwards."""
    made: list[Lease] = []
    yield made
    for lease in made:
        lease.close()


def make(leases: list[Lease], url: str, region: str, **options: float) -> Lease:
    lease = Lease(url, region, **options)  # type: ignore[arg-type]
    leases.append(lease)
    return lease


def test_one_process_holds_the_lease_and_the_others_wait(database_url: str, region: str, leases: list[Lease]) -> None:
    first, second = make(leases, database_url, region), make(leases, database_url, region)
    assert first.try_acquire() and first.epoch == 1 and first.valid() and first.check() == 1
    assert not second.try_acquire() and second.epoch is None and not second.valid()
    with pytest.raises(LeaseLost):
        second.check()
    row = second.current()
    assert row is not None and (row.region, row.epoch, row.holder) == (region, 1, first.holder)
    other = make(leases, database_url, unique("region"))  # another region is another lease
    assert other.try_acquire() and other.epoch == 1


def test_a_renewed_lease_outlives_its_time_out_and_a_released_one_passes_at_once(
    database_url: str, region: str, leases: list[Lease]
) -> None:
    leader = make(leases, database_url, region, ttl_s=2.0, renew_s=0.5)
    standby = make(leases, database_url, region, ttl_s=2.0, renew_s=0.5)
    assert leader.try_acquire()
    leader.start_renewing()
    time.sleep(3.0)  # longer than the time-out: only the renewals keep it
    assert leader.valid() and not standby.try_acquire()
    leader.release()
    assert not leader.valid() and standby.try_acquire() and standby.epoch == 2


def test_a_holder_that_dies_loses_the_lease_at_once(database_url: str, region: str, tmp_path: Path) -> None:
    """SIGKILL: its connection (PostgreSQL: its session and advisory lock) or its liveness lock (SQLite) goes with
    it, and a standby takes over long before the lease's 60 s time-out."""
    holder = Holder(database_url, region, 60.0, tmp_path / "holder.log")
    standby = Lease(database_url, region)
    try:
        assert not standby.try_acquire()
        row = standby.current()
        assert row is not None and row.epoch == 1
        holder.signal(signal.SIGKILL)
        holder.process.wait(10)
        assert standby.acquire(stopping_after(20), poll_s=0.1)
        assert standby.epoch == 2 and time.time() < row.expires_at  # not a time-out: the lease had 60 s to run
    finally:
        holder.stop()
        standby.close()


def test_a_frozen_holder_is_taken_over_after_its_time_out_and_stands_down_when_it_wakes(
    database_url: str, region: str, tmp_path: Path
) -> None:
    """SIGSTOP: the holder keeps its connection (and, in PostgreSQL, its advisory lock) but stops renewing. Once
    the lease is past its time-out, the standby ends the holder's session (PostgreSQL) or sees the lease expired
    (SQLite) and takes it, with the next epoch; the holder, woken, finds its lease gone and cannot renew it."""
    ttl = 2.0
    holder = Holder(database_url, region, ttl, tmp_path / "holder.log")
    standby = Lease(database_url, region, ttl_s=ttl, renew_s=0.5)
    try:
        seen = holder.renewals()
        assert wait_until(lambda: holder.renewals() > seen, timeout_s=10)
        holder.signal(signal.SIGSTOP)  # just after a renewal: not in the middle of a write
        assert not standby.try_acquire()
        row = standby.current()
        assert row is not None
        assert standby.acquire(stopping_after(30), poll_s=0.1)
        assert standby.epoch == 2 and time.time() >= row.expires_at  # after the time-out, not before
        holder.signal(signal.SIGCONT)
        assert wait_until(lambda: "renew again:" in holder.output(), timeout_s=15), holder.output()
        assert "renew again: False" in holder.output()
        assert standby.renew() and standby.valid()  # still the standby's
    finally:
        holder.signal(signal.SIGCONT)
        holder.stop()
        standby.close()


#: A holder frozen in the middle of a write of the decision store: the lease row locked by another of its sessions.
HOLDER_IN_A_WRITE = """
import sys, time
import sqlalchemy as sa
from telemetry.leader import Lease
lease = Lease(sys.argv[1], sys.argv[2], ttl_s=float(sys.argv[3]), renew_s=0.5)
assert lease.try_acquire()
with lease.engine.begin() as connection:
    connection.execute(sa.text("UPDATE dispatch_leases SET epoch = epoch WHERE region = :r"), {"r": sys.argv[2]})
    print("writing", flush=True)
    time.sleep(600)
"""


def test_a_holder_frozen_in_the_middle_of_a_write_is_taken_over_too(postgresql_url: str, region: str,
                                                                   tmp_path: Path) -> None:  # fmt: skip
    """Its write holds the lease row locked on a session other than the lock's: the standby ends every session of
    the frozen holder, not only the one holding the advisory lock."""
    log = tmp_path / "holder.log"
    with log.open("wb") as sink:
        holder = subprocess.Popen([sys.executable, "-c", HOLDER_IN_A_WRITE, postgresql_url, region, "2"],
                                  stdout=sink, stderr=subprocess.STDOUT)  # fmt: skip
    standby = Lease(postgresql_url, region, ttl_s=2.0, renew_s=0.5)
    try:
        assert wait_until(lambda: "writing" in log.read_text() or holder.poll() is not None, timeout_s=60)
        assert holder.poll() is None, log.read_text()
        os.kill(holder.pid, signal.SIGSTOP)
        assert standby.acquire(stopping_after(30), poll_s=0.1) and standby.epoch == 2
    finally:
        os.kill(holder.pid, signal.SIGCONT)
        holder.kill()
        holder.wait(10)
        standby.close()


def test_the_epoch_counts_every_change_of_hands(database_url: str, region: str, leases: list[Lease]) -> None:
    a, b = make(leases, database_url, region), make(leases, database_url, region)
    epochs = []
    for lease in (a, b, a, a, b):
        assert lease.try_acquire()
        epochs.append(lease.epoch)
        lease.release()
    assert epochs == [1, 2, 3, 4, 5]


def race(lease: Lease, start: threading.Barrier, results: list[bool]) -> None:
    start.wait()
    results.append(lease.try_acquire())


def test_two_processes_racing_for_a_free_lease_never_both_get_it(database_url: str, leases: list[Lease]) -> None:
    for _ in range(10):
        region = unique("race")
        racers = [make(leases, database_url, region) for _ in range(2)]
        start, results = threading.Barrier(2), list[bool]()
        threads = [threading.Thread(target=race, args=(r, start, results)) for r in racers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert sorted(results) == [False, True]
        assert [r.epoch for r in racers if r.epoch is not None] == [1]


def test_a_leader_cut_off_from_postgresql_stands_down_and_a_standby_takes_over(
    postgresql_url: str, region: str
) -> None:
    """A network cut between the leader and the database: its renewals fail, it stops trusting its lease at once;
    the server sees the connection close, and the standby takes the lease."""
    url = sa.make_url(postgresql_url)
    with CuttableProxy((url.host or "127.0.0.1", url.port or 5432)) as proxy:
        through = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        leader = Lease(through, region, ttl_s=2.0, renew_s=0.5)
        standby = Lease(postgresql_url, region, ttl_s=2.0, renew_s=0.5)
        try:
            assert leader.try_acquire()
            leader.start_renewing()
            proxy.cut()
            assert wait_until(lambda: not leader.valid(), timeout_s=10)
            assert standby.acquire(stopping_after(30), poll_s=0.1) and standby.epoch == 2
            proxy.restore()
            assert not leader.renew() and not leader.valid()
        finally:
            leader.close()
            standby.close()


def test_the_decision_state_s_connections_give_up_on_a_dead_network_within_the_lease(
    postgresql_url: str, region: str
) -> None:
    """The engine the decision state is written through (``Lease.engine``) carries the lease session's libpq TCP
    settings, so a write on a network that died silently errors within about the lease's time-out instead of
    outliving it (the TCP defaults wait many minutes). A loopback proxy cannot drop packets (its kernel acknowledges
    them), so the settings are read back from the connection rather than a dead network staged."""
    lease = Lease(postgresql_url, region, ttl_s=4.0, renew_s=1.0)
    try:
        with lease.engine.connect() as connection:
            raw = connection.connection.dbapi_connection
            assert raw is not None
            parameters = raw.info.get_parameters()
        expected = {"connect_timeout": "4", "keepalives": "1", "keepalives_idle": "2", "keepalives_interval": "1",
                    "keepalives_count": "2", "tcp_user_timeout": "4000"}  # fmt: skip
        assert {k: parameters.get(k) for k in expected} == expected
    finally:
        lease.close()


def test_a_region_name_and_timings_are_checked(database_url: str) -> None:
    for bad in ("", "a b", "-x", "x" * 65, "지역"):
        with pytest.raises(LeaseError, match="region"):
            Lease(database_url, bad)
    with pytest.raises(LeaseError, match="twice"):
        Lease(database_url, "r", ttl_s=1.0, renew_s=1.0)
    assert 0 <= lock_key("seoul-central") < 2**31 and lock_key("a") != lock_key("b")


def stopping_after(seconds: float) -> threading.Event:
    """An event set after ``seconds``: how long a test lets ``acquire`` wait."""
    event = threading.Event()
    timer = threading.Timer(seconds, event.set)
    timer.daemon = True
    timer.start()
    return event
