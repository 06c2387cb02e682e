"""docs/integration.md works as written: its ``mosquitto_pub`` lines, pasted (only the broker's
host and port and the identifiers changed, so runs do not meet), get a dispatcher's advice, a
decline moves it, an incident gets a unit, and nothing is refused; every JSON payload it shows
(the Last Will's too) is valid for its topic."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

from dispatch.service import Dispatcher
from telemetry import schemas, topics
from tests.conftest import BrokerUnderTest
from tests.dispatch.bus import CITY_HALL, Bus, advised, sockets_only
from tests.helpers import unique, wait_until

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "integration.md"
UNIT, INCIDENT, GUIDE_CENTRE = "119-jongno-1", "INC-guide-0001", "A1100017"


def _commands() -> list[list[str]]:
    """Every mosquitto_pub / mosquitto_sub line of the guide's shell blocks, split as a shell would."""
    blocks = re.findall(r"```sh\n(.*?)```", GUIDE.read_text(encoding="utf-8"), flags=re.S)
    return [shlex.split(line) for block in blocks for line in block.splitlines() if line.startswith("mosquitto_")]


def _option(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def test_every_payload_of_the_guide_is_valid_for_its_topic() -> None:
    shown = 0
    for argv in _commands():
        for topic_flag, payload_flag in (("-t", "-m"), ("--will-topic", "--will-payload")):
            if payload_flag in argv:
                topic = topics.parse(_option(argv, topic_flag))
                schemas.decode(topic.kind, _option(argv, payload_flag).encode())
                shown += 1
    assert shown == 7  # status, position, vitals, decision, incident, the Last Will, a centre's answer


@sockets_only
def test_the_guides_commands_get_advice_a_decline_and_an_assignment(
    bus: Bus, dispatcher: Dispatcher, broker: BrokerUnderTest
) -> None:
    where = urlsplit(broker.url)
    unit, incident = unique("guide"), unique("INC-guide")

    def pasted(argv: list[str]) -> list[str]:
        argv = [a.replace(UNIT, unit).replace(INCIDENT, incident) for a in argv]
        argv[argv.index("-h") + 1], argv[argv.index("-p") + 1] = str(where.hostname), str(where.port)
        return argv

    publish = [pasted(a) for a in _commands() if a[0] == "mosquitto_pub"]
    by_topic = {topics.parse(_option(a, "-t")).kind: a for a in publish}
    bus.used |= {(topics.Kind.STATUS, unit), (topics.Kind.INCIDENT, incident)}  # cleared after the test

    for kind in (topics.Kind.STATUS, topics.Kind.POSITION, topics.Kind.VITALS):
        subprocess.run(by_topic[kind], check=True, timeout=30)
    first = advised(bus, dispatcher, unit)
    assert first.advice_version == 1 and first.pathway == "stroke"

    subprocess.run(by_topic[topics.Kind.DECISION], check=True, timeout=30)  # declines version 1
    assert wait_until(lambda: (a := bus.advice(unit)) is not None and a.advice_version > 1, timeout_s=10)
    moved = bus.advice(unit)
    assert moved is not None and moved.destination.hpid != first.destination.hpid

    # the centre the advice now names accepts its request (the guide's centre replaced by that one)
    accept = [a.replace(GUIDE_CENTRE, moved.destination.hpid) for a in by_topic[topics.Kind.ANSWER]]
    assert json.loads(_option(accept, "-m"))["request_id"] == f"{unit}-v{moved.advice_version}"
    subprocess.run(accept, check=True, timeout=30)

    def accepted() -> bool:
        raw = bus.last(topics.build(topics.Kind.REQUEST_STATE, unit))
        state = schemas.decode(topics.Kind.REQUEST_STATE, raw) if raw else None
        return isinstance(state, schemas.UnitRequest) and state.state is schemas.RequestState.ACCEPTED

    assert wait_until(accepted, timeout_s=10)

    helper = unique("guide-free")  # an available unit with a position, for the incident to be given
    bus.send(topics.Kind.STATUS, helper, schemas.Status.new(status=schemas.UnitStatus.AVAILABLE))
    bus.send(topics.Kind.POSITION, helper, schemas.Position.new(lat=CITY_HALL[0], lon=CITY_HALL[1]))
    bus.client.subscribe(topics.build(topics.Kind.ASSIGNMENT, incident), qos=1)
    subprocess.run(by_topic[topics.Kind.INCIDENT], check=True, timeout=30)
    assert wait_until(lambda: bus.last(topics.build(topics.Kind.ASSIGNMENT, incident)) is not None, timeout_s=10)

    assert bus.refusals(unit) == []
    assert not [r for r in bus.reports() if unit in r.topic]
