"""The state rules of ``hospital_capacity.state``: the newest observation wins, part by part, and
times the server's clock refuses (pure functions, no store)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from hospital_capacity.schemas import EARLIEST_OBSERVATION, MAX_FUTURE_SKEW, StatusUpdate
from hospital_capacity.state import UpdateRejected, apply, check_times, empty_state

NOW = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
T = NOW - timedelta(minutes=10)


def update(**fields: Any) -> StatusUpdate:
    return StatusUpdate.model_validate(fields)


def closed(expires_at: datetime, status: str = "closed") -> dict[str, Any]:
    return {"status": status, "reason": "CT down", "expires_at": expires_at.isoformat()}


def posted_at(at: datetime) -> dict[str, Any]:
    """The state after a centre posted every kind of part at ``at``."""
    first = update(
        beds={"er_general": {"available": 0, "total": 30, "overcrowded": True}},
        equipment={"ct": False},
        conditions={"stemi_pci": True},
        ems_traffic={"status": "advisory", "reason": "CT down"},
        offload_minutes=20,
    )
    return apply(empty_state(), first, at=at, by="JNUH charge nurse").state


def test_an_older_observation_replaces_nothing_and_names_what_it_kept() -> None:
    state = posted_at(T)
    older = update(
        beds={"er_general": {"available": 6, "total": 15}},
        equipment={"ct": True},
        conditions={"stemi_pci": False},
        ems_traffic={"status": "normal"},
        offload_minutes=5,
    )
    applied = apply(state, older, at=T - timedelta(hours=1), by="E-Gen")
    assert applied.state == state
    assert applied.kept_newer == ("beds.er_general", "equipment.ct", "conditions.stemi_pci", "ems_traffic",
                                  "offload_minutes")  # fmt: skip


def test_a_newer_observation_wins_for_the_parts_it_carries_only() -> None:
    state = posted_at(T)
    newer = update(beds={"er_general": {"available": 4, "total": 30}, "icu": {"available": 2, "total": 8}})
    applied = apply(state, newer, at=T + timedelta(minutes=1), by="E-Gen")
    beds = applied.state["beds"]
    assert beds["er_general"] == {"available": 4, "total": 30, "overcrowded": False,
                                  "updated_at": (T + timedelta(minutes=1)).isoformat()}  # fmt: skip
    assert beds["icu"]["available"] == 2
    for part in ("equipment", "conditions", "ems_traffic", "offload_minutes", "offload_updated_at"):
        assert applied.state[part] == state[part], part
    assert applied.kept_newer == ()
    assert applied.state["updated_at"] == (T + timedelta(minutes=1)).isoformat()
    assert applied.state["updated_by"] == "E-Gen"


def test_a_mix_takes_what_is_newer_and_keeps_the_rest() -> None:
    state = apply(posted_at(T - timedelta(hours=2)), update(equipment={"ct": True}), at=T, by="nurse").state
    mixed = update(beds={"er_general": {"available": 3}}, equipment={"ct": False})
    applied = apply(state, mixed, at=T - timedelta(hours=1), by="E-Gen")
    assert applied.state["beds"]["er_general"]["available"] == 3  # stored 2 h ago: replaced
    assert applied.state["equipment"]["ct"]["available"] is True  # stored at T: kept
    assert applied.kept_newer == ("equipment.ct",)
    assert applied.state["updated_at"] == T.isoformat() and applied.state["updated_by"] == "nurse"


def test_on_a_tie_the_later_arrival_wins() -> None:
    applied = apply(posted_at(T), update(equipment={"ct": True}), at=T, by="control room")
    assert applied.state["equipment"]["ct"]["available"] is True and applied.kept_newer == ()


def test_the_newest_wins_whatever_the_time_zone_of_the_stamps() -> None:
    kst = T.astimezone(timezone(timedelta(hours=9)))
    state = posted_at(kst)  # stored as +09:00
    applied = apply(state, update(equipment={"ct": True}), at=T - timedelta(seconds=1), by="E-Gen")
    assert applied.kept_newer == ("equipment.ct",)


@pytest.mark.parametrize(
    ("fields", "loc", "words"),
    [
        ({"observed_at": "9999-12-31T00:00:00+00:00"}, ("observed_at",), "in the future"),
        ({"observed_at": (NOW + MAX_FUTURE_SKEW + timedelta(seconds=1)).isoformat()}, ("observed_at",), "5 minutes"),
        ({"observed_at": "1970-01-01T00:00:00+00:00"}, ("observed_at",), "before 2000-01-01"),
        ({"observed_at": "1999-12-31T23:59:59+00:00"}, ("observed_at",), "before 2000-01-01"),
        (
            {"ems_traffic": closed(NOW - timedelta(minutes=1))},
            ("ems_traffic", "expires_at"),
            "already past",
        ),
        (
            {"ems_traffic": closed(NOW)},
            ("ems_traffic", "expires_at"),
            "already past",
        ),
        (
            {
                "observed_at": (NOW + timedelta(minutes=4)).isoformat(),
                "ems_traffic": closed(NOW + timedelta(minutes=3), "advisory"),
            },
            ("ems_traffic", "expires_at"),
            "observed_at",
        ),
    ],
)  # fmt: skip
def test_times_the_clock_refuses_name_their_field(fields: dict[str, Any], loc: tuple[str, ...], words: str) -> None:
    with pytest.raises(UpdateRejected) as refused:
        check_times(update(**fields), NOW)
    assert refused.value.loc == loc and words in str(refused.value)


@pytest.mark.parametrize(
    "fields",
    [
        {"observed_at": (NOW + MAX_FUTURE_SKEW).isoformat()},  # exactly the skew allowed
        {"observed_at": EARLIEST_OBSERVATION.isoformat()},
        {"observed_at": "2024-09-26T11:42:23+09:00"},  # the real E-Gen sample
        {"ems_traffic": closed(NOW + timedelta(hours=2))},
        {"ems_traffic": {"status": "closed", "reason": "CT down"}},
        {},
    ],
)  # fmt: skip
def test_times_within_the_rules_pass(fields: dict[str, Any]) -> None:
    check_times(update(**fields), NOW)
