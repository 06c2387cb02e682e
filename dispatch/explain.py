"""The words of the advice: every reason the crew reads, built from templates in Korean and English
(the advice's reasons, and what the dispatcher tells a unit about a message of its own).

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
    "answer_refused": ("응답 거부: {why}", "answer refused: {why}"),
    # what the dispatcher tells a unit about a message of its own (ems/units/{unit}/rejected)
    "decision_no_advice": (
        "결정 거부: 현재 환자에 대한 이송 권고가 없습니다(결정한 권고 버전 {v}). 권고를 받은 뒤 다시 결정하세요",
        "decision refused: there is no advice for the current patient (the decision names advice version {v}); "
        "decide once advice arrives",
    ),
    "decision_future": (
        "결정 거부: 권고 버전 {v}은(는) 발행된 적이 없습니다. 최신 권고(버전 {current}, {name})를 보고 다시 결정하세요",
        "decision refused: advice version {v} was never issued; decide again on the newest advice "
        "(version {current}, {name})",
    ),
    "decision_unknown": (
        "결정 거부: 권고 버전 {v}의 목적지를 알 수 없습니다. 최신 권고(버전 {current}, {name})를 보고 다시 결정하세요",
        "decision refused: the destination of advice version {v} is not known; decide again on the newest advice "
        "(version {current}, {name})",
    ),
    "decision_changed": (
        "결정 거부: 권고가 바뀌었습니다. 버전 {v}은(는) {old}, 최신 버전 {current}은(는) {name}입니다. "
        "최신 권고를 보고 다시 결정하세요",
        "decision refused: the advice changed: version {v} named {old}, the newest (version {current}) names "
        "{name}; decide again on the newest advice",
    ),
    "held_no_position": (
        "보류(거부 아님): 이 구급대의 위치를 아직 받지 못했습니다. 활력징후는 보관했으며, 첫 위치를 받으면 "
        "이송 권고를 보냅니다",
        "held, not refused: no position from this unit yet; the vitals are kept and the advice follows its "
        "first position",
    ),
    "empty_payload": (
        "메시지 거부: 빈 메시지입니다({kind}). 빈 메시지는 보존(retained) 토픽을 지울 때만 씁니다",
        "message refused: the payload is empty ({kind}); an empty payload only clears a retained topic",
    ),
    "malformed": ("메시지 거부(형식 오류): {detail}", "message refused (malformed): {detail}"),
    "off_contract": (
        "메시지 거부(계약에 없는 토픽): {detail}",
        "message refused (topic not in the contract): {detail}",
    ),
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
