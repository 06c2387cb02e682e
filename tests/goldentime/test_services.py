"""Service start-up helpers that are not about a connection."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from dispatch.scenario import Prepared
from dispatch.severity.model import TrainedSeverity
from goldentime.services import RegionDispatcher, freeze_heap, shown
from goldentime.settings import Settings
from telemetry.broker import EmbeddedBroker
from telemetry.client import BrokerUrlError
from telemetry.decision_store import StoredDecisions
from tests.helpers import unique, wait_until


@pytest.fixture
def unfrozen() -> Iterator[None]:
    yield
    gc.unfreeze()  # the rest of the test session collects as before


def test_freeze_heap_frees_garbage_then_takes_what_is_alive_out_of_collections(unfrozen: None) -> None:
    class Cycle:
        partner: object = None

    alive, garbage = Cycle(), Cycle()
    garbage.partner = garbage  # a cycle nothing refers to: only a collection frees it
    freed = weakref.ref(garbage)
    del garbage
    freeze_heap()
    assert freed() is None  # freed, not frozen
    assert not any(o is alive for generation in range(3) for o in gc.get_objects(generation=generation))
    assert gc.get_freeze_count() > 0


def test_every_service_factory_has_its_real_types() -> None:
    """No ``Any`` in the signatures of goldentime/services.py: a caller's mistake shows under mypy."""
    import ast
    from pathlib import Path

    import goldentime.services

    tree = ast.parse(Path(goldentime.services.__file__).read_text(encoding="utf-8"))
    loose = [
        f"{node.name}: {ast.unparse(annotation)}"
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef)
        for annotation in [node.returns, *(a.annotation for a in (*node.args.args, *node.args.kwonlyargs))]
        if annotation is not None and "Any" in ast.unparse(annotation)
    ]
    assert loose == []


def test_several_broker_urls_are_shown_each_without_its_account() -> None:
    """The nodes of a cluster, as a list or separated by commas (``GOLDENTIME_MQTT_URL``): each shown, in order,
    without the account and password (one holding a comma, which does not split the list)."""
    secret = "pa,ss:word"
    nodes = [f"mqtt://dispatcher:{secret}@nats-1:1883", f"mqtt://dispatcher:{secret}@nats-2:1884",
             f"mqtt://dispatcher:{secret}@nats-3"]  # fmt: skip
    expected = "mqtt://nats-1:1883,mqtt://nats-2:1884,mqtt://nats-3:1883"
    assert shown(nodes) == expected
    assert shown(",".join(nodes)) == shown(" , ".join(nodes)) == expected
    assert shown("mqtts://units%2FU1:pw@broker.example") == "mqtts://broker.example:8883"  # one URL, as before
    with pytest.raises(BrokerUrlError, match="twice") as refused:
        shown([nodes[0], nodes[0]])
    assert "pa,ss" not in str(refused.value)


def test_a_leader_whose_database_goes_away_before_it_reads_the_decision_state_stands_by_and_leads_again(
    tmp_path: Path, embedded_broker: EmbeddedBroker, prepared: Prepared, severity: TrainedSeverity,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """The database goes away between the lease taken and the decision state read (the first read fails as a
    connection cut then fails): the process gives the lease up and stands by, never ends, and leads again once the
    database answers."""
    settings = Settings(var_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'goldentime.sqlite3'}")
    said: list[str] = []
    service = RegionDispatcher(settings, embedded_broker.url, unique("r"), prepared, severity, ttl_s=2.0,
                               renew_s=0.5, poll_s=0.1, say=said.append)  # fmt: skip
    real_load, reads = service.store.load, list[int]()

    def load() -> StoredDecisions:
        reads.append(1)
        if len(reads) == 1:
            raise sa.exc.OperationalError("SELECT", {}, Exception("server closed the connection unexpectedly"))
        return real_load()

    monkeypatch.setattr(service.store, "load", load)
    service.start()
    try:
        assert wait_until(lambda: service.leading or service.failure is not None, timeout_s=30), said
        assert service.failure is None and service.leading, said
        assert service.terms == 2 and service.epoch == 2 and len(reads) == 2
    finally:
        service.stop()
    assert any("the decision state cannot be read (server closed the connection unexpectedly); not leading "
               "(epoch 1), standing by" in line for line in said), said  # fmt: skip
