"""The words of the advice: every reason the crew reads, built from templates in Korean and English.

A :data:`Text` is a (Korean, English) pair. :func:`say` fills one template in both languages at
once, so the router never writes a sentence of its own; :func:`join` strings pairs together the
way the tablet shows them ("전남대학교병원: 12분, 혈전제거술 가능, 도착 시 병상 2").
"""

from __future__ import annotations

import math
from collections.abc import Sequence

Text = tuple[str, str]
KO, EN = 0, 1

TEMPLATES: dict[str, Text] = {
    "minutes": ("{n}분", "{n} min"),
    "beds_after": ("도착 시 병상 {n}", "{n} beds after inbound"),
    "bed_after": ("도착 시 병상 {n}", "{n} bed after inbound"),
    "beds_unknown": ("병상 미보고", "beds not reported"),
    "no_bed": ("도착 시 병상 없음", "no bed left after inbound"),
    "er_full": ("응급실 포화", "reports ER full"),
    "unknown_item": ("{item} 미보고", "{item} not reported"),
    "stale_item": ("{item} 보고 {age} 전", "{item} report {age} old"),
    "stale_beds": ("병상 보고 {age} 전", "bed report {age} old"),
    "offload": ("인계 지연 {n}분", "offload {n} min"),
    "stale_offload": ("인계 지연 보고 {age} 전", "offload report {age} old"),
    "advisory": ("수용 제한{why}", "advisory{why}"),
    "closed": ("수용 불가{why}", "closed{why}"),
    "stale_closure": ("수용 불가 보고 {age} 전", "closure report {age} old"),
    "team_busy": ("{team} 이미 다른 환자 이송 중", "{team} already taken by an inbound patient"),
    "faster": ("{name} {n}분이지만 {why}", "{name} is {n} min but {why}"),
    "costlier": ("종합 비용 높음(중증도·병상·인계)", "costlier overall (severity, beds, offload)"),
    "arrest": ("최근접 응급실(심정지: 시간 우선)", "nearest ER (cardiac arrest: time wins)"),
    "unstable": ("최근접 응급실(불안정: 안정화 우선)", "nearest ER (unstable: stabilise first)"),
    "stabilise_here": ("안정화 가능", "can stabilise"),
    "all_declined": ("모든 기관 거절됨 — 상황실 연락", "every centre declined — call the control room"),
    "not_regional": ("권역·지역센터 아님", "not a regional or local centre"),
}


def say(code: str, **values: object) -> Text:
    """Template ``code`` filled in both languages; a value may itself be a (Korean, English) pair."""
    ko, en = TEMPLATES[code]
    if not values:
        return ko, en
    pairs = [(k, v) if isinstance(v, tuple) else (k, (v, v)) for k, v in values.items()]
    return ko.format(**{k: v[KO] for k, v in pairs}), en.format(**{k: v[EN] for k, v in pairs})


def minutes(seconds: float) -> int:
    """Whole minutes as a crew reads an ETA: rounded up."""
    return math.ceil(seconds / 60) if math.isfinite(seconds) else 9999


def age(seconds: float) -> Text:
    """An age in the largest sensible unit: "40분" / "40 min", "10시간" / "10 h"."""
    if seconds < 2 * 3600:
        return f"{int(seconds // 60)}분", f"{int(seconds // 60)} min"
    return f"{int(seconds // 3600)}시간", f"{int(seconds // 3600)} h"


def because(reason: str | None) -> Text:
    return (f" ({reason})", f" ({reason})") if reason else ("", "")


def join(texts: Sequence[Text], sep: str = ", ") -> Text:
    return sep.join(t[KO] for t in texts), sep.join(t[EN] for t in texts)


def headed(name: str, texts: Sequence[Text]) -> Text:
    """ "{name}: a, b, c" in both languages."""
    body = join(texts)
    return f"{name}: {body[KO]}", f"{name}: {body[EN]}"
