"""The MQTT access rules (telemetry/access.py), on their own: no broker."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from paho.mqtt.client import topic_matches_sub

from telemetry import topics
from telemetry.access import RULES, AccessError, Account, Role, account_of, matches, overlap, render_acl
from telemetry.topics import Kind

FAST = settings(max_examples=300, deadline=None)
U1, U2 = Account(Role.UNIT, "U1"), Account(Role.UNIT, "U2")
H1 = Account(Role.CENTRE, "H1")


def every_topic(*keys: str) -> list[str]:
    return [topics.build(kind, key) for kind in Kind for key in keys]


# --- units and centres ---------------------------------------------------------------------------


def test_a_unit_publishes_its_own_position_vitals_status_and_decisions_only() -> None:
    own = {topics.build(kind, "U1") for kind in (Kind.POSITION, Kind.VITALS, Kind.STATUS, Kind.DECISION)}
    assert {t for t in every_topic("U1", "U2", "H1") if U1.may_publish(t)} == own
    assert not U1.may_publish("ems/units/U2/vitals")
    assert not U1.may_publish("ems/hospitals/X/capacity")
    assert not U1.may_publish("ems/units/U1/advice")  # advice comes from the dispatcher only


def test_a_unit_reads_what_is_sent_to_it_only() -> None:
    assert U1.may_read("ems/units/U1/advice")
    assert not U1.may_read("ems/units/U2/advice")
    assert not U1.may_read("ems/hospitals/H1/capacity")
    assert U1.may_subscribe("ems/units/U1/advice")
    assert not U1.may_subscribe("ems/units/U2/advice")
    assert not U1.may_subscribe("ems/hospitals/#")
    # a wide filter is let through, as Mosquitto does; each message is then checked
    assert U1.may_subscribe("ems/#") and U1.may_subscribe("ems/units/+/advice")


def test_a_unit_reads_why_its_own_messages_were_refused_and_nothing_of_other_units() -> None:
    """``ems/units/{unit}/rejected``: the unit's own refusals (the operators' ``ems/rejected/#`` stays closed
    to it); a unit cannot write there, not even for itself, and never reads another unit's."""
    own, other = topics.build(Kind.UNIT_REJECTED, "U1"), topics.build(Kind.UNIT_REJECTED, "U2")
    assert own == "ems/units/U1/rejected"
    assert U1.may_read(own) and U1.may_subscribe(own) and U1.may_subscribe("ems/units/+/rejected")
    assert not U1.may_read(other) and not U2.may_read(own)
    assert not U1.may_subscribe("ems/units/U2/rejected")
    assert not any(U1.may_read(t) for t in every_topic("dispatcher", "recorder") if t.startswith("ems/rejected/"))
    assert not U1.may_publish(own) and not U1.may_publish(other)
    assert not H1.may_read(own)


def test_a_centre_publishes_its_own_capacity_and_answers_and_reads_its_own_inbound_list_and_requests() -> None:
    assert {t for t in every_topic("U1", "H1", "H2") if H1.may_publish(t)} == {
        "ems/hospitals/H1/capacity",
        "ems/hospitals/H1/answer",
    }
    assert {t for t in every_topic("U1", "H1", "H2") if H1.may_read(t)} == {
        "ems/hospitals/H1/capacity",
        "ems/hospitals/H1/inbound",
        "ems/hospitals/H1/requests",
        "ems/hospitals/H1/answer",
    }


def test_a_unit_reads_where_its_own_request_stands_and_never_another_units() -> None:
    own, other = topics.build(Kind.REQUEST_STATE, "U1"), topics.build(Kind.REQUEST_STATE, "U2")
    assert own == "ems/units/U1/request"
    assert U1.may_read(own) and not U1.may_read(other) and not U1.may_publish(own)
    assert not H1.may_read(own) and not U1.may_read("ems/hospitals/H1/requests")
    assert Account(Role.DISPATCHER).may_publish(own) and Account(Role.DISPATCHER).may_read("ems/hospitals/H1/answer")


HANDSHAKE = (Kind.REQUESTS, Kind.ANSWER, Kind.REQUEST_STATE)


def _handshake_rights(account: Account, access: str) -> set[str]:
    allowed = account.may_publish if access == "publish" else account.may_read
    return {t for t in (topics.build(k, key) for k in HANDSHAKE for key in ("U1", "H1")) if allowed(t)}


@pytest.mark.parametrize(
    ("account", "publishes", "reads"),
    [
        (U1, set(), {"ems/units/U1/request"}),
        (H1, {"ems/hospitals/H1/answer"}, {"ems/hospitals/H1/requests", "ems/hospitals/H1/answer"}),
        (
            Account(Role.DISPATCHER),
            {"ems/hospitals/U1/requests", "ems/hospitals/H1/requests", "ems/units/U1/request", "ems/units/H1/request"},
            {"ems/hospitals/U1/answer", "ems/hospitals/H1/answer"},
        ),
        (Account(Role.CAPACITY_API), {"ems/hospitals/U1/answer", "ems/hospitals/H1/answer"}, set()),
        (
            Account(Role.SIMULATOR),
            {"ems/hospitals/U1/answer", "ems/hospitals/H1/answer"},
            {"ems/hospitals/U1/requests", "ems/hospitals/H1/requests"},
        ),
        (Account(Role.CREW_TABLET), set(), {topics.build(k, key) for k in HANDSHAKE for key in ("U1", "H1")}),
        (Account(Role.DASHBOARD), set(), {topics.build(k, key) for k in HANDSHAKE for key in ("U1", "H1")}),
        (Account(Role.RECORDER), set(), {topics.build(k, key) for k in HANDSHAKE for key in ("U1", "H1")}),
    ],
    ids=lambda v: v.username if isinstance(v, Account) else "",
)
def test_who_takes_part_in_the_acceptance_handshake(account: Account, publishes: set[str], reads: set[str]) -> None:
    """Issue 23: only the dispatcher writes requests and request state; a centre answers for itself
    alone (through its own account, the capacity API's centre page, or the simulator's stand-in)."""
    assert _handshake_rights(account, "publish") == publishes
    assert _handshake_rights(account, "read") == reads


def test_a_centre_never_answers_or_reads_for_another_centre() -> None:
    assert not H1.may_publish("ems/hospitals/H2/answer")
    assert not H1.may_read("ems/hospitals/H2/requests")
    assert not H1.may_publish("ems/hospitals/H1/requests")  # the dispatcher is the one writer
    assert not U1.may_publish("ems/hospitals/H1/answer") and not U1.may_publish("ems/units/U1/request")


# --- services -----------------------------------------------------------------------------------


def test_the_dashboard_reads_everything_and_publishes_nothing() -> None:
    dashboard = Account(Role.DASHBOARD)
    assert all(dashboard.may_read(t) for t in every_topic("U1", "H1"))
    assert not any(dashboard.may_publish(t) for t in every_topic("U1", "H1"))


def test_the_crew_tablet_dashboard_may_also_answer_advice_and_send_the_crews_assessment_for_any_unit() -> None:
    """Issue 24: the crew page sends the chief complaint and Pre-KTAS with the patient's vitals."""
    tablet = Account(Role.CREW_TABLET)
    assert all(tablet.may_read(t) for t in every_topic("U1", "H1"))
    assert {t for t in every_topic("U1", "U2") if tablet.may_publish(t)} == {
        "ems/units/U1/decision",
        "ems/units/U2/decision",
        "ems/units/U1/vitals",
        "ems/units/U2/vitals",
    }


def test_the_dispatcher_may_do_what_dispatch_service_does() -> None:
    dispatcher = Account(Role.DISPATCHER)
    # Dispatcher.start: state for every worker, then work (optionally in a share group)
    for kind in (Kind.POSITION, Kind.STATUS, Kind.ADVICE, Kind.CAPACITY):
        assert dispatcher.may_subscribe(topics.subscription(kind))
    for kind in (Kind.VITALS, Kind.DECISION, Kind.INCIDENT, Kind.ANSWER):
        assert dispatcher.may_subscribe(topics.subscription(kind))
        assert dispatcher.may_subscribe(f"$share/dispatch/{topics.subscription(kind)}")
    # advice (and clearing it), pre-notification, unit recommendations, refused messages
    for topic in ("ems/units/U1/advice", "ems/hospitals/H1/inbound", "ems/incidents/I1/assignment"):
        assert dispatcher.may_publish(topic)
    assert dispatcher.may_publish("ems/rejected/dispatcher")
    assert not dispatcher.may_publish("ems/rejected/recorder")
    # and every unit's copy of the refusals of its own messages
    assert dispatcher.may_publish("ems/units/U1/rejected") and dispatcher.may_publish("ems/units/U2/rejected")
    assert not any(dispatcher.may_publish(topics.build(k, "U1")) for k in (Kind.VITALS, Kind.STATUS, Kind.CAPACITY))


def test_only_the_dispatcher_writes_a_regions_dispatcher_status_and_every_operator_reads_it() -> None:
    """``ems/dispatchers/{region}/status`` (and the leader's Last Will there): the dispatcher account writes it for
    any region (every region's leader logs in as ``dispatcher``); the control room, the recorder and the admin read
    it; units, centres and the other services can neither write nor read it."""
    status = topics.build(Kind.DISPATCHER_STATUS, "seoul-central")
    assert status == "ems/dispatchers/seoul-central/status"
    dispatcher = Account(Role.DISPATCHER)
    assert dispatcher.may_publish(status) and dispatcher.may_publish("ems/dispatchers/gwangju/status")
    assert not dispatcher.may_read(status)  # it has no use for another leader's status
    writers = {role for role in Role if role not in (Role.UNIT, Role.CENTRE) and Account(role).may_publish(status)}
    assert writers == {Role.DISPATCHER, Role.ADMIN}
    readers = {role for role in Role if role not in (Role.UNIT, Role.CENTRE) and Account(role).may_read(status)}
    assert readers == {Role.DASHBOARD, Role.CREW_TABLET, Role.RECORDER, Role.ADMIN}
    for own in (Account(Role.UNIT, "seoul-central"), Account(Role.CENTRE, "seoul-central")):
        assert not own.may_publish(status) and not own.may_read(status)
    dispatcher_block = render_acl().split("user dispatcher\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert "topic write ems/dispatchers/+/status" in dispatcher_block
    blocks = [block.splitlines() for block in render_acl().split("\n\n")]
    assert [b[1] for b in blocks if any(" ems/dispatchers/" in line for line in b)] == ["user dispatcher"]


def test_the_recorder_reads_everything_and_publishes_only_its_refusals() -> None:
    recorder = Account(Role.RECORDER)
    assert recorder.may_subscribe(topics.ALL)
    assert all(recorder.may_read(t) for t in every_topic("U1", "H1"))
    assert [t for t in every_topic("U1", "recorder", "dispatcher") if recorder.may_publish(t)] == [
        "ems/rejected/recorder"
    ]


def test_the_capacity_api_publishes_capacity_and_the_centre_pages_answers_and_reads_nothing() -> None:
    api = Account(Role.CAPACITY_API)
    assert {t for t in every_topic("H1", "H2") if api.may_publish(t)} == {
        "ems/hospitals/H1/capacity",
        "ems/hospitals/H2/capacity",
        "ems/hospitals/H1/answer",
        "ems/hospitals/H2/answer",
    }
    assert not api.may_subscribe("#")


def test_the_simulator_may_do_what_the_live_city_does() -> None:
    simulator = Account(Role.SIMULATOR)
    for kind in (Kind.POSITION, Kind.VITALS, Kind.STATUS, Kind.DECISION, Kind.CAPACITY, Kind.INCIDENT):
        assert simulator.may_publish(topics.build(kind, "X1"))
    for kind in (Kind.ASSIGNMENT, Kind.ADVICE, Kind.CAPACITY):
        assert simulator.may_subscribe(topics.subscription(kind))
    assert not simulator.may_publish("ems/units/X1/advice")
    assert not simulator.may_read("ems/units/X1/vitals")


def test_admin_may_do_anything() -> None:
    admin = Account(Role.ADMIN)
    assert all(admin.may_publish(t) and admin.may_read(t) for t in [*every_topic("U1", "H1"), "other/topic"])
    assert admin.may_subscribe("$SYS/#") and not admin.may_publish("ems/#")


def test_every_rule_names_topics_of_the_contract() -> None:
    """A misspelt filter ("ems/unit/+/vitals") would silently grant nothing."""
    contract = every_topic("X1", "dispatcher", "recorder")
    for role, grants in RULES.items():
        for topic_filter in (*grants.publish, *grants.read):
            if topic_filter not in ("#", "$SYS/#"):
                assert any(matches(topic_filter.replace("{id}", "X1"), t) for t in contract), (role, topic_filter)


# --- accounts and usernames ------------------------------------------------------------------------


def test_usernames_carry_the_role_of_units_and_centres() -> None:
    assert Account(Role.UNIT, "U01-0").username == "units/U01-0"
    assert Account(Role.CENTRE, "A1500002").username == "hospitals/A1500002"
    assert Account(Role.CREW_TABLET).username == "crew-tablet"


@pytest.mark.parametrize(
    "account",
    [U1, H1, *(Account(role) for role in Role if role not in (Role.UNIT, Role.CENTRE))],
    ids=lambda a: a.username,
)
def test_a_username_gives_back_its_account(account: Account) -> None:
    assert account_of(account.username) == account


@pytest.mark.parametrize(
    "username",
    [None, "", "units/", "units/+", "units/#", "units/U1/x", "units/U 1", "unit", "hospitals", "bob", "Units/U1"],
)
def test_other_usernames_are_no_account_and_may_do_nothing(username: str | None) -> None:
    assert account_of(username) is None


@pytest.mark.parametrize(
    ("role", "key"), [(Role.UNIT, None), (Role.CENTRE, "bad/id"), (Role.UNIT, "+"), (Role.DISPATCHER, "d1")]
)
def test_an_account_needs_an_id_exactly_when_it_is_a_unit_or_centre(role: Role, key: str | None) -> None:
    with pytest.raises(AccessError):
        Account(role, key)


# --- topic matching ----------------------------------------------------------------------------------

LEVEL = st.sampled_from(["ems", "units", "U1", "U2", "advice", "", "$SYS", "x"])
FILTER_LEVEL = st.one_of(LEVEL, st.just("+"))


@st.composite
def topic_filters(draw: st.DrawFn) -> str:
    levels = draw(st.lists(FILTER_LEVEL, min_size=1, max_size=4))
    if draw(st.booleans()):
        levels.append("#")
    return "/".join(levels)


@FAST
@given(topic_filters(), st.lists(LEVEL, min_size=1, max_size=5).map("/".join))
def test_matching_agrees_with_paho(topic_filter: str, topic: str) -> None:
    assert matches(topic_filter, topic) == topic_matches_sub(topic_filter, topic)


@FAST
@given(topic_filters(), st.lists(LEVEL, min_size=1, max_size=5).map("/".join))
def test_a_topic_overlaps_exactly_the_filters_it_matches(topic_filter: str, topic: str) -> None:
    assert overlap(topic_filter, topic) == matches(topic_filter, topic) == overlap(topic, topic_filter)


@FAST
@given(topic_filters(), topic_filters(), st.lists(LEVEL, min_size=1, max_size=5).map("/".join))
def test_two_filters_matching_one_topic_overlap(first: str, second: str, topic: str) -> None:
    if matches(first, topic) and matches(second, topic):
        assert overlap(first, second) and overlap(second, first)


# --- the Mosquitto ACL file ------------------------------------------------------------------------------


def test_the_acl_file_has_a_block_per_service_and_patterns_for_units_and_centres() -> None:
    acl = render_acl()
    users = re.findall(r"^user (\S+)$", acl, flags=re.M)
    assert users == [role.value for role in Role if role not in (Role.UNIT, Role.CENTRE)]
    patterns = re.findall(r"^pattern (\w+) (\S+)$", acl, flags=re.M)
    assert patterns == [
        ("write", "ems/%u/position"),
        ("write", "ems/%u/vitals"),
        ("write", "ems/%u/status"),
        ("write", "ems/%u/decision"),
        ("read", "ems/%u/#"),
        ("write", "ems/%u/capacity"),
        ("write", "ems/%u/answer"),
        ("read", "ems/%u/#"),
    ]
    dispatcher = acl.split("user dispatcher\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert "topic readwrite ems/units/+/advice" in dispatcher
    assert "topic read ems/units/+/vitals" in dispatcher
    assert "topic write ems/rejected/dispatcher" in dispatcher
    assert "topic write ems/units/+/rejected" in dispatcher
    # the acceptance handshake: the dispatcher writes the centres' requests and the units' request
    # state, and reads the answers; the capacity API and the simulator write answers, the simulator
    # reads the requests it answers
    assert "topic write ems/hospitals/+/requests" in dispatcher
    assert "topic write ems/units/+/request" in dispatcher
    assert "topic read ems/hospitals/+/answer" in dispatcher
    api = acl.split("user capacity-api\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert api == ["topic write ems/hospitals/+/capacity", "topic write ems/hospitals/+/answer"]
    simulator = acl.split("user simulator\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert "topic write ems/hospitals/+/answer" in simulator
    assert "topic read ems/hospitals/+/requests" in simulator
    # no other service is granted a unit's refusals by name (the admin may write anything)
    blocks = [block.splitlines() for block in acl.split("\n\n")]
    writers = [b[1] for b in blocks if any(line.endswith(" ems/units/+/rejected") for line in b)]
    assert writers == ["user dispatcher"]
    assert "user dashboard\ntopic read ems/#\n" in acl


def test_a_pattern_never_reaches_a_contract_topic_of_another_role() -> None:
    """Patterns apply to every account; expanded for a centre, a unit's rules name no contract topic
    (and the other way round), which is why the username carries the role."""
    for username in ("hospitals/H1", "units/U1", "dispatcher"):
        account = account_of(username)
        assert account is not None
        for access, pattern in re.findall(r"^pattern (\w+) (\S+)$", render_acl(), flags=re.M):
            expanded = pattern.replace("%u", username)
            for topic in every_topic("U1", "H1", "dispatcher"):
                if matches(expanded, topic):
                    allowed = account.may_publish(topic) if access == "write" else account.may_read(topic)
                    assert allowed, (username, pattern, topic)
