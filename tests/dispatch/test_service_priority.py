"""R-PRIORITY across batches (dispatch.engine.giving_way): which holders of a full bed or team are
decided again with the patients of a batch — every one who could lose it to a more urgent patient, and
no one else (re-planning every holder of a full centre would re-plan the whole region each batch)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from dispatch.engine import giving_way
from dispatch.pathways import Pathway

BED = ("A", None)
CATH_LAB = ("A", Pathway.STEMI)
NONE: frozenset[Pathway] = frozenset()


def test_only_holders_less_urgent_than_a_patient_being_decided_give_way() -> None:
    holders = [(1.0, "ktas5"), (2.0, "ktas4"), (5.0, "ktas1")]
    assert giving_way([(4.0, NONE)], {BED: holders}) == {"ktas5"}
    # two patients: the second (1.5) is not more urgent than the next holder (2.0)
    assert giving_way([(4.0, NONE), (1.5, NONE)], {BED: holders}) == {"ktas5"}
    assert giving_way([(4.0, NONE), (3.0, NONE)], {BED: holders}) == {"ktas5", "ktas4"}
    assert giving_way([(1.0, NONE)], {BED: holders}) == set()  # as urgent as the least urgent holder: no one


def test_a_team_is_given_way_only_to_a_patient_on_its_pathway() -> None:
    holders = [(2.0, "stemi-mild")]
    assert giving_way([(5.0, NONE)], {CATH_LAB: holders}) == set()
    assert giving_way([(5.0, frozenset({Pathway.STEMI}))], {CATH_LAB: holders}) == {"stemi-mild"}


levels = st.floats(min_value=1.0, max_value=5.0)


@given(
    st.lists(levels, max_size=6),
    st.lists(st.tuples(levels, st.text("abcdef", min_size=1, max_size=3)), max_size=12, unique_by=lambda h: h[1]),
)
def test_every_holder_a_greedy_swap_could_displace_is_chosen(
    wanting: list[float], held: list[tuple[float, str]]
) -> None:
    """The batch's patients, most urgent first, each take the place of the least urgent holder left if it
    is less urgent: exactly those holders are decided again."""
    chosen = giving_way([(w, NONE) for w in wanting], {BED: held})
    left, displaced = sorted(held), set()
    for patient in sorted(wanting, reverse=True):
        if left and left[0][0] < patient:
            displaced.add(left.pop(0)[1])
    assert chosen == displaced
