"""Who may publish and read what on the bus: the MQTT access rules, in one place.

Every MQTT account has a :class:`Role`. Two roles are *identities*, one account per unit or
centre, whose username names the part of the topic tree they own:

- ``unit``: username ``units/{unit id}`` publishes its own position, vitals, status (and Last
  Will) and decisions, and reads ``ems/units/{unit id}/#`` (its advice, and on
  ``ems/units/{unit id}/rejected`` why a message of its own was refused: ``ems/rejected/#`` is for
  operators);
- ``centre``: username ``hospitals/{hpid}`` publishes its own capacity and its answers to transfer
  requests, and reads ``ems/hospitals/{hpid}/#`` (its inbound list and the requests waiting for it).

The username carries the role because Mosquitto's ACL ``pattern`` lines apply to *every*
account: with bare ids, a centre named ``A1`` could post positions as a unit ``A1``. With
``units/U1`` the pattern ``ems/%u/position`` can only ever reach ``ems/units/U1/position``, and
the cross-role expansions (``ems/units/U1/capacity``, ``ems/hospitals/A1/position``) are not
topics of the contract, which every consumer refuses (:func:`telemetry.topics.parse`).

The other roles are *services* with one fixed username each, the role's name (every worker of a
role shares it): ``dashboard`` reads everything and publishes nothing; ``crew-tablet`` is a
dashboard that also serves the crew page, so it may post any unit's decision and vitals (the crew's
chief complaint and Pre-KTAS go out with the patient's vitals; a real in-vehicle tablet uses its
unit's account instead); ``dispatcher``, ``recorder``, ``capacity-api`` and
``simulator`` get what their code subscribes to and publishes (dispatch/service.py,
telemetry/recorder.py, hospital_capacity/publisher.py, simulations/live.py); ``admin`` may do
anything, for operators and benchmarks.

:func:`render_acl` writes the same rules as a Mosquitto ACL file; the embedded broker
(:mod:`telemetry.broker`) enforces them directly. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from itertools import zip_longest

from telemetry import topics
from telemetry.errors import TelemetryError
from telemetry.topics import Kind

K = topics.CONTRACT
#: Stands for the account's own id inside a rule's topic filter.
OWN = "{id}"


class Role(StrEnum):
    UNIT = "unit"
    CENTRE = "centre"
    DASHBOARD = "dashboard"
    CREW_TABLET = "crew-tablet"
    DISPATCHER = "dispatcher"
    RECORDER = "recorder"
    CAPACITY_API = "capacity-api"
    SIMULATOR = "simulator"
    ADMIN = "admin"


#: Identity roles and the topic section (``ems/{section}/{id}/...``) their username starts with.
IDENTITY_SECTIONS: dict[Role, str] = {Role.UNIT: "units", Role.CENTRE: "hospitals"}


_SERVICE_USERNAMES = frozenset(role.value for role in Role if role not in IDENTITY_SECTIONS)


class AccessError(TelemetryError, ValueError):
    """A role, name or username that cannot make an account."""


@dataclass(frozen=True, slots=True)
class Grants:
    """Topic filters a role may publish to and read from; :data:`OWN` stands for the account's id."""

    publish: tuple[str, ...]
    read: tuple[str, ...]


def _own(kind: Kind) -> str:
    return K[kind].template.format(id=OWN)


def _any(*kinds: Kind) -> tuple[str, ...]:
    return tuple(topics.subscription(kind) for kind in kinds)


_UNIT_PUBLISHES = (Kind.POSITION, Kind.VITALS, Kind.STATUS, Kind.DECISION)

RULES: dict[Role, Grants] = {
    Role.UNIT: Grants(
        publish=tuple(_own(kind) for kind in _UNIT_PUBLISHES),
        read=(f"{topics.ROOT}/units/{OWN}/#",),
    ),
    Role.CENTRE: Grants(publish=(_own(Kind.CAPACITY), _own(Kind.ANSWER)), read=(f"{topics.ROOT}/hospitals/{OWN}/#",)),
    Role.DASHBOARD: Grants(publish=(), read=(topics.ALL,)),
    Role.CREW_TABLET: Grants(publish=_any(Kind.DECISION, Kind.VITALS), read=(topics.ALL,)),
    Role.DISPATCHER: Grants(
        publish=(
            *_any(Kind.ADVICE, Kind.INBOUND, Kind.ASSIGNMENT, Kind.REQUESTS, Kind.REQUEST_STATE),
            topics.build(Kind.REJECTED, "dispatcher"),
            *_any(Kind.UNIT_REJECTED),  # each unit's copy of the refusals of its own messages
            *_any(Kind.DISPATCHER_STATUS),  # the region's leader: leading, its ledger, heartbeat; Last Will offline
        ),
        read=_any(
            Kind.POSITION,
            Kind.VITALS,
            Kind.STATUS,
            Kind.ADVICE,
            Kind.DECISION,
            Kind.CAPACITY,
            Kind.INCIDENT,
            Kind.ANSWER,
        ),
    ),
    Role.RECORDER: Grants(publish=(topics.build(Kind.REJECTED, "recorder"),), read=(topics.ALL,)),
    Role.CAPACITY_API: Grants(publish=_any(Kind.CAPACITY, Kind.ANSWER), read=()),  # the centre page's answers too
    Role.SIMULATOR: Grants(
        publish=_any(*_UNIT_PUBLISHES, Kind.CAPACITY, Kind.INCIDENT, Kind.ANSWER),
        read=_any(Kind.ASSIGNMENT, Kind.ADVICE, Kind.CAPACITY, Kind.REQUESTS),
    ),
    Role.ADMIN: Grants(publish=("#",), read=("#", "$SYS/#")),
}


@dataclass(frozen=True, slots=True)
class Account:
    """An MQTT account: its role and, for a unit or centre, the id it owns."""

    role: Role
    id: str | None = None

    def __post_init__(self) -> None:
        if self.role in IDENTITY_SECTIONS:
            if self.id is None:
                raise AccessError(f"a {self.role} account needs the {self.role}'s id")
            try:
                topics.check_id(self.id, what=f"{self.role} id")
            except topics.TopicError as exc:
                raise AccessError(str(exc)) from None
        elif self.id is not None:
            raise AccessError(f"a {self.role} account has the fixed username {self.role.value!r} and takes no id")

    @property
    def username(self) -> str:
        if self.role in IDENTITY_SECTIONS:
            return f"{IDENTITY_SECTIONS[self.role]}/{self.id}"
        return self.role.value

    def publishes(self) -> tuple[str, ...]:
        """The topic filters this account may publish to."""
        return tuple(f.replace(OWN, self.id or "") for f in RULES[self.role].publish)

    def reads(self) -> tuple[str, ...]:
        """The topic filters this account may receive messages from."""
        return tuple(f.replace(OWN, self.id or "") for f in RULES[self.role].read)

    def may_publish(self, topic: str) -> bool:
        """May this account publish on ``topic`` (a topic name, no wildcards)?"""
        if not _is_topic_name(topic):
            return False
        return any(matches(allowed, topic) for allowed in self.publishes())

    def may_read(self, topic: str) -> bool:
        """May a message on ``topic`` be delivered to this account?"""
        if not _is_topic_name(topic):
            return False
        return any(matches(allowed, topic) for allowed in self.reads())

    def may_subscribe(self, topic_filter: str) -> bool:
        """May this account subscribe to ``topic_filter``? Yes when it can deliver something this
        account may read; what is delivered is still checked message by message (:meth:`may_read`),
        as Mosquitto does. A shared subscription (``$share/{group}/{filter}``) is judged by its filter."""
        if topic_filter.startswith("$share/"):
            parts = topic_filter.split("/", 2)
            if len(parts) < 3 or not parts[1]:
                return False
            topic_filter = parts[2]
        return any(overlap(allowed, topic_filter) for allowed in self.reads())


def account_of(username: str | None) -> Account | None:
    """The account a username stands for; ``None`` when it is none of ours (which may do nothing)."""
    if not username:
        return None
    section, slash, rest = username.partition("/")
    for role, wanted in IDENTITY_SECTIONS.items():
        if slash and section == wanted:
            try:
                return Account(role, rest)
            except AccessError:
                return None
    if username in _SERVICE_USERNAMES:
        return Account(Role(username))
    return None


def _is_topic_name(topic: str) -> bool:
    return bool(topic) and "+" not in topic and "#" not in topic


def matches(topic_filter: str, topic: str) -> bool:
    """Does ``topic`` match ``topic_filter``? MQTT rules, including that ``$`` topics match only
    filters that name their first level."""
    if topic.startswith("$") and topic_filter[:1] in ("+", "#"):
        return False
    levels = topic.split("/")
    for i, want in enumerate(topic_filter.split("/")):
        if want == "#":
            return True  # also matches the parent level: "a/#" matches "a"
        if i >= len(levels) or want not in ("+", levels[i]):
            return False
    return len(levels) == len(topic_filter.split("/"))


def overlap(first: str, second: str) -> bool:
    """Is there a topic that matches both filters?"""
    a, b = first.split("/"), second.split("/")
    if a[0].startswith("$") != b[0].startswith("$"):
        return False  # "+" and "#" never match a $ topic's first level
    for x, y in zip_longest(a, b):
        if x == "#" or y == "#":
            return True
        if x is None or y is None or (x != y and "+" not in (x, y)):
            return False
    return True


# --- Mosquitto -----------------------------------------------------------------------------


def _pattern(role: Role, topic_filter: str) -> str:
    """A rule of an identity role as a Mosquitto ``pattern`` topic: its ``{section}/{id}`` becomes ``%u``."""
    own = f"{IDENTITY_SECTIONS[role]}/{OWN}"
    if own not in topic_filter:
        raise AccessError(f"rule {topic_filter!r} of role {role} does not sit under its own {own}")
    return topic_filter.replace(own, "%u")


def _lines(keyword: str, publish: tuple[str, ...], read: tuple[str, ...]) -> list[str]:
    lines = [f"{keyword} readwrite {t}" for t in publish if t in read]
    lines += [f"{keyword} write {t}" for t in publish if t not in read]
    lines += [f"{keyword} read {t}" for t in read if t not in publish]
    return lines


def render_acl() -> str:
    """The rules as a Mosquitto 2 ACL file (``acl_file``): a ``user`` block per service account and
    ``pattern`` lines (``%u`` = username) for units and centres. Anything not listed is refused."""
    out = [
        "# GoldenTime's MQTT access rules for Mosquitto, generated from telemetry/access.py by",
        "# `goldentime mqtt acl`: edit the rules there, not here. Anything not granted is refused.",
        "#",
        "# Units log in as units/{unit id}, centres as hospitals/{hpid} (`goldentime mqtt users create`),",
        "# so that %u below expands to their own part of the topic tree; the other accounts have fixed",
        "# usernames, one per role.",
        "",
    ]
    for role, grants in RULES.items():
        if role in IDENTITY_SECTIONS:
            continue
        out += [f"# {role}", f"user {role.value}", *_lines("topic", grants.publish, grants.read), ""]
    for role, section in IDENTITY_SECTIONS.items():
        grants = RULES[role]
        publish = tuple(_pattern(role, t) for t in grants.publish)
        read = tuple(_pattern(role, t) for t in grants.read)
        out += [f"# {role}: username {section}/{{{role} id}}", *_lines("pattern", publish, read), ""]
    return "\n".join(out).rstrip("\n") + "\n"
