"""The dashboard's shared words (dashboard/common.py): what the pages put in Korean, with the English switch."""

from __future__ import annotations

import pytest

from dashboard.common import region_name


@pytest.mark.parametrize(
    ("region", "words"),
    [
        ("gwangju", ("광주광역시", "Gwangju")),
        ("national:gangwon", ("강원특별자치도", "Gangwon")),
        ("seoul-central", ("seoul-central", "seoul-central")),  # a city scenario's name, as it is
    ],
)
def test_a_dispatchers_region_is_named_in_korean_and_english(region: str, words: tuple[str, str]) -> None:
    assert region_name(region) == words
