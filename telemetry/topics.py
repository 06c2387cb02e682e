"""Build and parse the topics of the MQTT contract (DESIGN.md, "The MQTT contract").

Every topic GoldenTime uses is one of the :class:`Kind` values below. A topic that is
not one of them is refused with :class:`TopicError`: consumers never guess.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from enum import StrEnum

from telemetry.errors import TelemetryError

ROOT = "ems"

#: Identifiers inside topics (unit, hpid, incident, source): no MQTT wildcards or
#: separators, at most 64 characters.
ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}"
_ID = re.compile(rf"^{ID_PATTERN}$")


class TopicError(TelemetryError, ValueError):
    """A topic that is not part of the contract, or an identifier unfit for a topic."""


class Kind(StrEnum):
    """One row of the contract table."""

    POSITION = "position"
    VITALS = "vitals"
    STATUS = "status"
    ADVICE = "advice"
    DECISION = "decision"
    CAPACITY = "capacity"
    INBOUND = "inbound"
    INCIDENT = "incident"
    ASSIGNMENT = "assignment"
    REJECTED = "rejected"
    #: A unit's own copy of the refusals (and notices) about what it sent: the one refusal topic a
    #: unit account may read (``ems/rejected/#`` is for operators). Payload ``ems.rejected/1``.
    UNIT_REJECTED = "unit_rejected"
    #: A centre's transfer requests waiting for its answer (the digital acceptance handshake, issue 23).
    REQUESTS = "requests"
    #: A centre's answer to one of its requests: seen, accept, or decline with a coded reason.
    ANSWER = "answer"
    #: Where the unit's own request stands: sent, seen, accepted, declined, no answer, withdrawn.
    REQUEST_STATE = "request_state"
    #: A region's dispatcher: leading or offline (its Last Will), its border-bed ledger reachable or not, and a
    #: heartbeat; ``{id}`` is the region (:func:`dispatcher_id`). Payload ``ems.dispatcher_status/1``. The value is
    #: short because the recorder keeps a message's kind in a 16-character column.
    DISPATCHER_STATUS = "dispatcher"


@dataclass(frozen=True, slots=True)
class Route:
    """Where a kind of message lives and how it travels."""

    template: str
    qos: int
    retained: bool


CONTRACT: dict[Kind, Route] = {
    Kind.POSITION: Route("ems/units/{id}/position", qos=0, retained=False),
    Kind.VITALS: Route("ems/units/{id}/vitals", qos=1, retained=False),
    Kind.STATUS: Route("ems/units/{id}/status", qos=1, retained=True),
    Kind.ADVICE: Route("ems/units/{id}/advice", qos=1, retained=True),
    Kind.DECISION: Route("ems/units/{id}/decision", qos=1, retained=False),
    Kind.CAPACITY: Route("ems/hospitals/{id}/capacity", qos=1, retained=True),
    Kind.INBOUND: Route("ems/hospitals/{id}/inbound", qos=1, retained=True),
    Kind.INCIDENT: Route("ems/incidents/{id}", qos=1, retained=False),
    Kind.ASSIGNMENT: Route("ems/incidents/{id}/assignment", qos=1, retained=True),
    Kind.REJECTED: Route("ems/rejected/{id}", qos=1, retained=False),
    Kind.UNIT_REJECTED: Route("ems/units/{id}/rejected", qos=1, retained=False),
    Kind.REQUESTS: Route("ems/hospitals/{id}/requests", qos=1, retained=True),
    Kind.ANSWER: Route("ems/hospitals/{id}/answer", qos=1, retained=False),
    Kind.REQUEST_STATE: Route("ems/units/{id}/request", qos=1, retained=True),
    Kind.DISPATCHER_STATUS: Route("ems/dispatchers/{id}/status", qos=1, retained=True),
}


def _last_level(*kinds: Kind) -> dict[str, Kind]:
    """The last level of each kind's topic (``ems/units/{id}/rejected`` -> ``rejected``) -> the kind."""
    return {CONTRACT[k].template.rsplit("/", 1)[1]: k for k in kinds}


_UNIT_KINDS = _last_level(
    Kind.POSITION, Kind.VITALS, Kind.STATUS, Kind.ADVICE, Kind.DECISION, Kind.UNIT_REJECTED, Kind.REQUEST_STATE
)
_HOSPITAL_KINDS = _last_level(Kind.CAPACITY, Kind.INBOUND, Kind.REQUESTS, Kind.ANSWER)


@dataclass(frozen=True, slots=True)
class Topic:
    """A parsed topic: its kind and the identifier in it (unit, hpid, incident or source)."""

    kind: Kind
    key: str

    @property
    def route(self) -> Route:
        return CONTRACT[self.kind]

    def __str__(self) -> str:
        return self.route.template.format(id=self.key)


def check_id(value: str, *, what: str = "identifier") -> str:
    """Return ``value`` if it can sit inside a topic, else raise :class:`TopicError`."""
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise TopicError(
            f"{what} {value!r} must be 1-64 characters of letters, digits, '_', '.' or '-', "
            "starting with a letter or digit"
        )
    return value


def build(kind: Kind, key: str) -> str:
    """The topic string for ``kind`` and identifier ``key``."""
    return str(Topic(kind, check_id(key, what=f"{kind.value} id")))


@functools.lru_cache(maxsize=65536)  # a fleet's topics repeat with every message (a Topic is immutable)
def parse(topic: str) -> Topic:
    """Parse a topic of the contract; anything else raises :class:`TopicError`."""
    parts = topic.split("/")
    if len(parts) < 3 or parts[0] != ROOT:
        raise TopicError(f"topic {topic!r} is not under {ROOT}/ with an identifier")
    section, key, rest = parts[1], parts[2], parts[3:]
    kind: Kind | None = None
    if section == "units" and len(rest) == 1:
        kind = _UNIT_KINDS.get(rest[0])
    elif section == "hospitals" and len(rest) == 1:
        kind = _HOSPITAL_KINDS.get(rest[0])
    elif section == "incidents" and not rest:
        kind = Kind.INCIDENT
    elif section == "incidents" and rest == ["assignment"]:
        kind = Kind.ASSIGNMENT
    elif section == "rejected" and not rest:
        kind = Kind.REJECTED
    elif section == "dispatchers" and rest == ["status"]:
        kind = Kind.DISPATCHER_STATUS
    if kind is None:
        raise TopicError(f"topic {topic!r} is not part of the MQTT contract")
    check_id(key, what=f"{kind.value} id in topic {topic!r}")
    return Topic(kind, key)


def dispatcher_id(region: str) -> str:
    """The id of a region's dispatcher in its status topic: the region (``goldentime dispatcher --region``, by
    default the scenario's name), a ``:`` in it (``national:gwangju``, a region named by its scenario) written ``.``
    since an id has none. The status payload carries the region as it is named. Raises :class:`TopicError` for a
    name that cannot make an id."""
    return check_id(region.replace(":", "."), what="region")


def subscription(kind: Kind) -> str:
    """The wildcard filter that matches every topic of ``kind``."""
    return CONTRACT[kind].template.format(id="+")


ALL = f"{ROOT}/#"
