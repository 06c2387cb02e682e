"""Tests for telemetry.topics: the topic half of the MQTT contract (DESIGN.md, "The MQTT contract")."""

from __future__ import annotations

import re
from typing import Any, cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from paho.mqtt.client import topic_matches_sub

from telemetry.topics import (
    ALL,
    CONTRACT,
    ID_PATTERN,
    ROOT,
    Kind,
    Topic,
    TopicError,
    build,
    check_id,
    dispatcher_id,
    parse,
    subscription,
)

FAST = settings(max_examples=200, deadline=None)

#: The contract table of DESIGN.md, written out by hand: (topic for id "X1", QoS, retained).
DESIGN_TABLE: dict[Kind, tuple[str, int, bool]] = {
    Kind.POSITION: ("ems/units/X1/position", 0, False),
    Kind.VITALS: ("ems/units/X1/vitals", 1, False),
    Kind.STATUS: ("ems/units/X1/status", 1, True),
    Kind.ADVICE: ("ems/units/X1/advice", 1, True),
    Kind.DECISION: ("ems/units/X1/decision", 1, False),
    Kind.CAPACITY: ("ems/hospitals/X1/capacity", 1, True),
    Kind.INBOUND: ("ems/hospitals/X1/inbound", 1, True),
    Kind.INCIDENT: ("ems/incidents/X1", 1, False),
    Kind.ASSIGNMENT: ("ems/incidents/X1/assignment", 1, True),
    Kind.REJECTED: ("ems/rejected/X1", 1, False),
    Kind.UNIT_REJECTED: ("ems/units/X1/rejected", 1, False),
    Kind.REQUESTS: ("ems/hospitals/X1/requests", 1, True),
    Kind.ANSWER: ("ems/hospitals/X1/answer", 1, False),
    Kind.REQUEST_STATE: ("ems/units/X1/request", 1, True),
    Kind.DISPATCHER_STATUS: ("ems/dispatchers/X1/status", 1, True),
}

ALL_KINDS = list(Kind)

ids = st.from_regex(ID_PATTERN, fullmatch=True)
kinds = st.sampled_from(ALL_KINDS)

_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")


def _looks_like_id(value: str) -> bool:
    """The identifier rule, written independently of ID_PATTERN."""
    return 1 <= len(value) <= 64 and value[0] not in "_.-" and all(c in _ID_CHARS for c in value)


# --- the contract table --------------------------------------------------------------------


def test_contract_has_exactly_one_route_per_kind() -> None:
    assert set(CONTRACT) == set(Kind)
    assert set(DESIGN_TABLE) == set(Kind)
    assert len({route.template for route in CONTRACT.values()}) == len(Kind)


@pytest.mark.parametrize("kind", ALL_KINDS, ids=lambda k: k.value)
def test_route_matches_design_table(kind: Kind) -> None:
    topic, qos, retained = DESIGN_TABLE[kind]
    route = CONTRACT[kind]
    assert route.template.format(id="X1") == topic
    assert route.qos == qos
    assert route.retained is retained


@pytest.mark.parametrize(
    ("kind", "qos", "retained"),
    [
        (Kind.POSITION, 0, False),
        (Kind.VITALS, 1, False),
        (Kind.STATUS, 1, True),
        (Kind.ADVICE, 1, True),
        (Kind.DECISION, 1, False),
        (Kind.CAPACITY, 1, True),
        (Kind.INBOUND, 1, True),
        (Kind.INCIDENT, 1, False),
        (Kind.ASSIGNMENT, 1, True),
        (Kind.REJECTED, 1, False),
        (Kind.UNIT_REJECTED, 1, False),
        (Kind.REQUESTS, 1, True),
        (Kind.ANSWER, 1, False),
        (Kind.REQUEST_STATE, 1, True),
        (Kind.DISPATCHER_STATUS, 1, True),
    ],
)
def test_parsed_topic_carries_qos_and_retained(kind: Kind, qos: int, retained: bool) -> None:
    topic = parse(build(kind, "unit-7"))
    assert topic.route.qos == qos
    assert topic.route.retained is retained


def test_only_position_is_qos0() -> None:
    assert [k for k, r in CONTRACT.items() if r.qos == 0] == [Kind.POSITION]
    assert all(r.qos in (0, 1) for r in CONTRACT.values())


def test_retained_kinds() -> None:
    retained = {k for k, r in CONTRACT.items() if r.retained}
    assert retained == {
        Kind.STATUS,
        Kind.ADVICE,
        Kind.CAPACITY,
        Kind.INBOUND,
        Kind.ASSIGNMENT,
        Kind.REQUESTS,
        Kind.REQUEST_STATE,
        Kind.DISPATCHER_STATUS,
    }


def test_kind_values() -> None:
    assert [k.value for k in Kind] == [
        "position",
        "vitals",
        "status",
        "advice",
        "decision",
        "capacity",
        "inbound",
        "incident",
        "assignment",
        "rejected",
        "unit_rejected",
        "requests",
        "answer",
        "request_state",
        "dispatcher",
    ]
    assert ROOT == "ems"


# --- build / parse -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ALL_KINDS, ids=lambda k: k.value)
def test_build_gives_the_design_topic(kind: Kind) -> None:
    assert build(kind, "X1") == DESIGN_TABLE[kind][0]


@pytest.mark.parametrize("kind", ALL_KINDS, ids=lambda k: k.value)
def test_parse_design_topic(kind: Kind) -> None:
    topic = parse(DESIGN_TABLE[kind][0])
    assert topic == Topic(kind, "X1")
    assert topic.kind is kind
    assert topic.key == "X1"
    assert topic.route is CONTRACT[kind]


@pytest.mark.parametrize("kind", ALL_KINDS, ids=lambda k: k.value)
@FAST
@given(key=ids)
def test_build_parse_round_trip(kind: Kind, key: str) -> None:
    text = build(kind, key)
    topic = parse(text)
    assert topic == Topic(kind, key)
    assert str(topic) == text
    assert text.startswith(ROOT + "/")
    assert text.count("/") == DESIGN_TABLE[kind][0].count("/")


@FAST
@given(kind=kinds, key=ids)
def test_str_of_topic_parses_back(kind: Kind, key: str) -> None:
    topic = Topic(kind, key)
    assert parse(str(topic)) == topic


def test_a_units_refusals_sit_under_the_unit_and_the_operators_under_rejected() -> None:
    """``ems/units/{unit}/rejected`` is the unit's own (its account reads ``ems/units/{unit}/#``);
    ``ems/rejected/{source}`` stays the consumers' report topic, and neither is the other."""
    assert parse("ems/units/U1/rejected") == Topic(Kind.UNIT_REJECTED, "U1")
    assert parse("ems/rejected/U1") == Topic(Kind.REJECTED, "U1")
    assert build(Kind.UNIT_REJECTED, "dispatcher") == "ems/units/dispatcher/rejected"
    for text in ("ems/units/U1/rejected/x", "ems/hospitals/H1/rejected", "ems/rejected/U1/rejected"):
        with pytest.raises(TopicError):
            parse(text)


def test_a_centres_requests_and_answers_and_a_units_request_state_do_not_cross() -> None:
    """The handshake (issue 23): a centre's waiting requests and its answers sit under the centre, the
    state of a unit's own request under the unit (leaf ``request``, not the kind's name)."""
    assert parse("ems/hospitals/H1/requests") == Topic(Kind.REQUESTS, "H1")
    assert parse("ems/hospitals/H1/answer") == Topic(Kind.ANSWER, "H1")
    assert parse("ems/units/U1/request") == Topic(Kind.REQUEST_STATE, "U1")
    for text in (
        "ems/units/U1/requests",
        "ems/units/U1/answer",
        "ems/units/U1/request_state",
        "ems/hospitals/H1/request",
        "ems/hospitals/H1/request_state",
        "ems/hospitals/H1/answers",
        "ems/hospitals/H1/requests/R1",
        "ems/hospitals/H1/answer/R1",
        "ems/units/U1/request/R1",
        "ems/incidents/I1/request",
        "ems/rejected/S1/answer",
    ):
        with pytest.raises(TopicError):
            parse(text)


def test_a_dispatchers_status_sits_under_its_region_and_nowhere_else() -> None:
    """``ems/dispatchers/{region}/status``: the one topic of the ``dispatchers`` section; a region named with a
    ``:`` (a region named by its scenario, ``national:gwangju``) is written with ``.`` in it."""
    assert parse("ems/dispatchers/seoul-central/status") == Topic(Kind.DISPATCHER_STATUS, "seoul-central")
    assert build(Kind.DISPATCHER_STATUS, "gwangju") == "ems/dispatchers/gwangju/status"
    assert dispatcher_id("gwangju") == "gwangju"
    assert dispatcher_id("national:gwangju") == "national.gwangju"
    assert build(Kind.DISPATCHER_STATUS, dispatcher_id("national:gwangju")) == "ems/dispatchers/national.gwangju/status"
    for bad in ("", ":gwangju", "a" * 65, "서울"):
        with pytest.raises(TopicError):
            dispatcher_id(bad)
    for text in (
        "ems/dispatchers/R1",
        "ems/dispatchers/R1/",
        "ems/dispatchers/R1/status/x",
        "ems/dispatchers/R1/dispatcher",
        "ems/dispatcher/R1/status",
        "ems/units/R1/dispatcher",
        "ems/hospitals/R1/status",
        "ems/dispatchers/national:gwangju/status",
    ):
        with pytest.raises(TopicError):
            parse(text)


def test_topics_are_hashable_and_frozen() -> None:
    a = parse("ems/units/U1/vitals")
    b = parse("ems/units/U1/vitals")
    assert a == b
    assert hash(a) == hash(b)
    assert len({a, b, parse("ems/units/U1/position")}) == 2
    with pytest.raises(AttributeError):
        a.key = "U2"  # type: ignore[misc]


def test_incident_and_its_assignment_are_distinct() -> None:
    assert parse("ems/incidents/assignment") == Topic(Kind.INCIDENT, "assignment")
    assert parse("ems/incidents/assignment/assignment") == Topic(Kind.ASSIGNMENT, "assignment")
    assert parse("ems/units/position/position") == Topic(Kind.POSITION, "position")


# --- refused topics ------------------------------------------------------------------------

REFUSED = [
    # wrong root or no root
    "",
    "ems",
    "ems/",
    "EMS/units/U1/position",
    "/ems/units/U1/position",
    "ems2/units/U1/position",
    "other/units/U1/position",
    "ems /units/U1/position",
    # incomplete
    "ems/units",
    "ems/units/U1",
    "ems/hospitals/H1",
    "ems/units/U1/",
    "ems/hospitals/H1/",
    "ems/incidents/I1/",
    "ems/rejected/S1/",
    # extra levels
    "ems/units/U1/position/extra",
    "ems/units/U1/position/",
    "ems/hospitals/H1/capacity/icu",
    "ems/incidents/I1/assignment/extra",
    "ems/incidents/I1/assignment/",
    "ems/rejected/S1/extra",
    "ems/units/U1/U2/position",
    # unknown section or leaf
    "ems/unknown/U1/position",
    "ems/unit/U1/position",
    "ems/units/U1/unknown",
    "ems/units/U1/Position",
    "ems/units/U1/POSITION",
    "ems/units/U1/capacity",
    "ems/units/U1/inbound",
    "ems/units/U1/assignment",
    "ems/hospitals/H1/vitals",
    "ems/hospitals/H1/position",
    "ems/hospitals/H1/assignment",
    "ems/incidents/I1/position",
    "ems/incidents/I1/advice",
    "ems/rejected/S1/assignment",
    "ems/units/U1/position\n",
    "ems/units/U1/position ",
    # wildcards
    "#",
    "+",
    "ems/#",
    "ems/+",
    "ems/units/#",
    "ems/units/+/position",
    "ems/+/U1/position",
    "ems/units/U1/+",
    "ems/units/U1/#",
    "ems/hospitals/+/capacity",
    "ems/incidents/+",
    "ems/incidents/#",
    "ems/incidents/+/assignment",
    "ems/rejected/+",
    "ems/rejected/#",
    "ems/units/U+1/position",
    "ems/units/U#1/position",
    "ems/units/U1+/position",
    # empty identifier
    "ems/units//position",
    "ems/hospitals//capacity",
    "ems/incidents/",
    "ems/incidents//assignment",
    "ems/rejected/",
    # identifier longer than 64
    "ems/units/" + "a" * 65 + "/position",
    "ems/hospitals/" + "H" * 65 + "/capacity",
    "ems/incidents/" + "1" * 65,
    "ems/incidents/" + "1" * 65 + "/assignment",
    "ems/rejected/" + "s" * 200,
    # identifiers that are not letters, digits, '_', '.', '-', or start badly
    "ems/units/-U1/position",
    "ems/units/_U1/position",
    "ems/units/.U1/position",
    "ems/units/../position",
    "ems/units/U 1/position",
    "ems/units/ U1/position",
    "ems/units/U1 /position",
    "ems/units/U1\n/position",
    "ems/units/\nU1/position",
    "ems/units/U1\r/position",
    "ems/units/U1\t/position",
    "ems/units/U1\x00/position",
    "ems/units/구급1/position",
    "ems/units/U1é/position",
    "ems/units/U1:2/position",
    "ems/units/U1$/position",
    "ems/incidents/I1\n",
    "ems/rejected/S1\n",
    "ems/hospitals/H1\n/capacity",
    # identifiers with '/' end up with extra levels
    "ems/incidents/a/b",
    "ems/rejected/a/b",
    "ems/units/a/b/position",
]


@pytest.mark.parametrize("topic", REFUSED)
def test_topics_outside_the_contract_are_refused(topic: str) -> None:
    with pytest.raises(TopicError):
        parse(topic)


def test_topic_error_is_a_value_error_naming_the_topic() -> None:
    assert issubclass(TopicError, ValueError)
    with pytest.raises(TopicError, match="ems/units/U1/unknown"):
        parse("ems/units/U1/unknown")


def test_64_character_id_is_the_limit() -> None:
    key = "a" * 64
    assert parse(f"ems/units/{key}/position") == Topic(Kind.POSITION, key)
    assert build(Kind.INCIDENT, key) == f"ems/incidents/{key}"
    with pytest.raises(TopicError):
        build(Kind.INCIDENT, key + "a")


# --- check_id ------------------------------------------------------------------------------

GOOD_IDS = ["a", "Z", "0", "119-A01", "A1.b_c-d", "unit.7", "0_", "a" * 64, "A-", "x.."]
BAD_IDS = [
    "",
    "-a",
    "_a",
    ".a",
    "a/b",
    "/a",
    "a/",
    "+",
    "#",
    "a+",
    "a#b",
    "a b",
    " a",
    "a ",
    "a\n",
    "\na",
    "a\r\n",
    "a\t",
    "a\x00",
    "a" * 65,
    "구급",
    "é",
    "a:b",
    "a*b",
    "a$",
]


@pytest.mark.parametrize("value", GOOD_IDS)
def test_check_id_accepts(value: str) -> None:
    assert check_id(value) == value


@pytest.mark.parametrize("value", BAD_IDS)
def test_check_id_refuses(value: str) -> None:
    with pytest.raises(TopicError):
        check_id(value)


@pytest.mark.parametrize("kind", ALL_KINDS, ids=lambda k: k.value)
@pytest.mark.parametrize("value", BAD_IDS)
def test_build_refuses_bad_ids(kind: Kind, value: str) -> None:
    with pytest.raises(TopicError):
        build(kind, value)


@pytest.mark.parametrize("value", [None, 5, b"abc", ["a"]])
def test_check_id_refuses_non_strings(value: object) -> None:
    with pytest.raises(TopicError):
        check_id(cast(Any, value))


def test_check_id_names_what_was_checked() -> None:
    with pytest.raises(TopicError, match="unit id"):
        check_id("a/b", what="unit id")


@FAST
@given(value=st.text(max_size=80))
def test_check_id_agrees_with_the_rule(value: str) -> None:
    if _looks_like_id(value):
        assert check_id(value) == value
    else:
        with pytest.raises(TopicError):
            check_id(value)


@FAST
@given(value=ids)
def test_generated_ids_are_topic_safe(value: str) -> None:
    assert check_id(value) == value
    assert not set(value) & set("/+#\n\r\x00 ")


# --- arbitrary text ------------------------------------------------------------------------

_PIECES = st.one_of(
    st.sampled_from(
        [
            "ems",
            "units",
            "hospitals",
            "incidents",
            "rejected",
            "assignment",
            "dispatchers",
            "status",
            "",
            "+",
            "#",
            "U1",
            "a" * 64,
            "a" * 65,
            "U1\n",
            "-x",
            *(k.value for k in Kind),
        ]
    ),
    ids,
    st.text(max_size=10),
)
topic_like = st.lists(_PIECES, min_size=0, max_size=6).map("/".join)


def _parse_or_refuse(text: str) -> None:
    try:
        topic = parse(text)
    except TopicError:
        return
    assert isinstance(topic, Topic)
    assert str(topic) == text
    assert isinstance(topic.kind, Kind)
    assert _looks_like_id(topic.key)
    assert build(topic.kind, topic.key) == text


@settings(max_examples=500, deadline=None)
@given(text=st.text())
def test_any_text_parses_exactly_or_is_refused(text: str) -> None:
    _parse_or_refuse(text)


@settings(max_examples=500, deadline=None)
@given(text=topic_like)
def test_topic_like_text_parses_exactly_or_is_refused(text: str) -> None:
    _parse_or_refuse(text)


@FAST
@given(kind=kinds, key=ids, suffix=st.text(min_size=1, max_size=5))
def test_anything_appended_to_a_topic_is_refused_or_another_topic(kind: Kind, key: str, suffix: str) -> None:
    text = build(kind, key) + suffix
    try:
        topic = parse(text)
    except TopicError:
        return
    # only possible when the suffix stays inside the last level or makes an incident's assignment
    assert str(topic) == text
    if kind is Kind.INCIDENT and suffix == "/assignment":
        assert topic == Topic(Kind.ASSIGNMENT, key)
    else:
        assert "/" not in suffix
        assert kind in (Kind.INCIDENT, Kind.REJECTED)
        assert topic == Topic(kind, key + suffix)


# --- subscriptions -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ALL_KINDS, ids=lambda k: k.value)
def test_subscription_is_the_template_with_a_single_level_wildcard(kind: Kind) -> None:
    expected = DESIGN_TABLE[kind][0].replace("X1", "+")
    assert subscription(kind) == expected
    assert subscription(kind).count("+") == 1
    assert "#" not in subscription(kind)
    with pytest.raises(TopicError):
        parse(subscription(kind))


@FAST
@given(kind=kinds, other=kinds, key=ids)
def test_subscription_matches_exactly_its_own_kind(kind: Kind, other: Kind, key: str) -> None:
    topic = build(other, key)
    assert topic_matches_sub(subscription(kind), topic) is (kind is other)
    assert topic_matches_sub(ALL, topic)


def test_all_is_everything_under_the_root() -> None:
    assert ALL == "ems/#"
    assert not topic_matches_sub(ALL, "other/units/U1/position")


def test_id_pattern_is_unanchored_and_bounded() -> None:
    assert re.fullmatch(ID_PATTERN, "a" * 64)
    assert not re.fullmatch(ID_PATTERN, "a" * 65)
    assert not re.fullmatch(ID_PATTERN, "")
