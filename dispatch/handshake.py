"""The acceptance handshake: a transfer request per patient to the advised centre, and the centre's answer.

Instead of phoning centre after centre from the scene, the crew's advice goes to the centre's screen as a
request; the centre answers accept, or decline with a coded reason, and the crew leaves as soon as one says
yes. Pure bookkeeping, no I/O: :class:`RequestBook` holds every open request and its state; the engine
(:mod:`dispatch.engine`) opens one with each advice naming a new centre, applies the answers and gives up on
requests past their answer time. The rules (``docs/clinical_rules.md``):

- **R-ANSWER** A request waits for an answer ``ANSWER_WITHIN_S`` by pathway (the more time-critical, the
  shorter); without one the crew goes on as advised and is told so. Cardiac arrest and unstable patients
  are never held for an answer: they go to the nearest ER, pre-notified by the inbound list.
- **R-PROMISE** An accepting centre holds its bed for the patient: the plan keeps the patient there
  (decided first) unless the centre leaves the candidates (shut, declared no, declined).
- **R-DUAL** A critical patient on a time-critical pathway (``DUAL_PATHWAYS``) whose first alternative is on
  the same tier and at most ``DUAL_WITHIN_S`` farther is asked of both centres at once: the first yes wins
  (the patient goes there, the other request is withdrawn); a no from one leaves the other standing.
- **R-REFUSED** A decline excludes that centre for the patient at once, and its reason is news about the
  centre for every patient until its next capacity report (at most ``REFUSAL_HOLD_S``): "no bed" reads as
  no ER bed free; "no specialist" or "no equipment" as the pathway's first-tier team or room declared no.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from dispatch.centre_view import CentreView, Datum
from dispatch.errors import DispatchError
from dispatch.explain import Text
from dispatch.pathways import PATHWAYS, Designation, Pathway
from telemetry.schemas import AnswerKind, RefusalReason, RequestState

#: R-ANSWER: seconds a centre has to answer, by the pathway that decided the advice.
ANSWER_WITHIN_S: dict[Pathway, float] = {
    Pathway.STEMI: 60.0,
    Pathway.STROKE: 60.0,
    Pathway.STROKE_HAEMORRHAGE: 60.0,
    Pathway.MAJOR_TRAUMA: 60.0,
    Pathway.BURNS: 90.0,
    Pathway.OBSTETRIC: 90.0,
    Pathway.PAEDIATRIC: 90.0,
    Pathway.GENERAL_CRITICAL: 90.0,
    Pathway.PSYCHIATRIC: 120.0,
    Pathway.NON_CRITICAL: 120.0,
}
#: R-DUAL: the pathways whose critical patients may be asked of two centres at once, and how much farther the
#: second may be.
DUAL_PATHWAYS = frozenset(
    {Pathway.STEMI, Pathway.STROKE, Pathway.STROKE_HAEMORRHAGE, Pathway.MAJOR_TRAUMA, Pathway.GENERAL_CRITICAL}
)
DUAL_WITHIN_S = 300.0
#: A pathway not in the table (or none known): this long.
DEFAULT_ANSWER_WITHIN_S = 90.0
#: R-REFUSED: what a decline says about a centre holds at most this long without a newer report.
REFUSAL_HOLD_S = 2 * 3600.0

OPEN = (RequestState.SENT, RequestState.SEEN)

#: What the crew reads about its request, by state (Korean, English).
STATE_WORDS: dict[RequestState, Text] = {
    RequestState.SENT: (
        "{name}에 수용 요청 보냄 — {n}초 안에 응답 없으면 안내대로 출발",
        "request sent to {name} — no answer within {n} s: go as advised",
    ),
    RequestState.SEEN: ("{name}에서 요청 확인함 — 응답 대기", "{name} has seen the request — waiting for the answer"),
    RequestState.ACCEPTED: ("{name} 수용 — 출발하세요", "{name} accepts — leave now"),
    RequestState.DECLINED: (
        "{name} 거절({why}) — 다음 병원 안내 중",
        "{name} declines ({why}) — finding the next centre",
    ),
    RequestState.NO_ANSWER: ("{name} 응답 없음 — 안내대로 출발", "no answer from {name} — go as advised"),
    RequestState.WITHDRAWN: ("{name} 요청 철회됨", "request to {name} withdrawn"),
}
REASON_WORDS: dict[RefusalReason, Text] = {
    RefusalReason.NO_BED: ("병상 없음", "no bed"),
    RefusalReason.NO_SPECIALIST: ("전문의 부재", "no specialist"),
    RefusalReason.NO_EQUIPMENT: ("장비 없음", "no equipment"),
    RefusalReason.OTHER: ("기타", "other"),
}


class HandshakeError(DispatchError, ValueError):
    """An answer that names no open request of the answering centre."""


@dataclass(frozen=True)
class Request:
    request_id: str
    unit_id: str
    hpid: str
    name: str
    patient_id: str
    advice_version: int
    pathway: Pathway | None
    critical: bool
    eta_s: float
    sent_at: datetime
    answer_by: datetime
    state: RequestState = RequestState.SENT
    reason: RefusalReason | None = None
    answered_at: datetime | None = None

    @property
    def open(self) -> bool:
        return self.state in OPEN

    def words(self) -> Text:
        """What the crew reads about this request now."""
        ko, en = STATE_WORDS[self.state]
        why = REASON_WORDS.get(self.reason, ("", "")) if self.reason is not None else ("", "")
        n = round((self.answer_by - self.sent_at).total_seconds())
        return ko.format(name=self.name, n=n, why=why[0]), en.format(name=self.name, n=n, why=why[1])


def answer_within_s(pathway: Pathway | None) -> float:
    return ANSWER_WITHIN_S.get(pathway, DEFAULT_ANSWER_WITHIN_S) if pathway is not None else DEFAULT_ANSWER_WITHIN_S


def request_id(unit_id: str, advice_version: int, *, second: bool = False) -> str:
    """A request's id: the unit and the advice version, ``b`` for the second centre asked at once (R-DUAL); the
    unit hashed when that would not fit in a topic id."""
    tail = f"-v{advice_version}{'b' if second else ''}"
    if len(unit_id) + len(tail) <= 64:
        return unit_id + tail
    return hashlib.sha256(unit_id.encode()).hexdigest()[:16] + tail


@dataclass(frozen=True)
class Refusal:
    """What a centre's decline says about it (R-REFUSED)."""

    reason: RefusalReason
    pathway: Pathway | None
    at: datetime


@dataclass(frozen=True)
class Answered:
    """What one answer changed: the request it answered, the unit's request now (a second one moves up when the
    first declines or the second accepts), and the unit's requests it withdrew (the other centre, once one said
    yes)."""

    request: Request
    current: Request | None
    withdrawn: tuple[Request, ...] = ()
    first: bool = True  # the answered request was the unit's current one (not the second centre's)


class RequestBook:
    """Every unit's current request (and the second centre asked at once, R-DUAL), and what declines said about
    centres."""

    def __init__(self) -> None:
        self.by_unit: dict[str, Request] = {}
        self.second: dict[str, Request] = {}
        self.refusals: dict[str, list[Refusal]] = {}

    def current(self, unit_id: str) -> Request | None:
        return self.by_unit.get(unit_id)

    def _all(self) -> list[Request]:
        return [*self.by_unit.values(), *self.second.values()]

    def send(self, request: Request) -> list[Request]:
        """Send ``request`` for its unit; returns the unit's earlier requests that were still open (now withdrawn)."""
        withdrawn = self.withdraw(request.unit_id)
        self.second.pop(request.unit_id, None)
        self.by_unit[request.unit_id] = request
        return withdrawn

    def also(self, request: Request) -> None:
        """Ask a second centre for the unit's patient at the same time (R-DUAL)."""
        assert request.unit_id in self.by_unit
        self.second[request.unit_id] = request

    def withdraw(self, unit_id: str) -> list[Request]:
        """The unit's open requests, withdrawn (the crew declined the advice, or another centre said yes)."""
        withdrawn = []
        for book in (self.by_unit, self.second):
            before = book.get(unit_id)
            if before is not None and before.open:
                book[unit_id] = replace(before, state=RequestState.WITHDRAWN)
                withdrawn.append(book[unit_id])
        return withdrawn

    def forget(self, unit_id: str) -> list[Request]:
        """The trip is over: the unit's requests, dropped."""
        return [r for r in (self.by_unit.pop(unit_id, None), self.second.pop(unit_id, None)) if r is not None]

    def answer(
        self, hpid: str, request_id: str, kind: AnswerKind, reason: RefusalReason | None, now: datetime
    ) -> Answered:
        """Apply a centre's answer; raises :class:`HandshakeError` when it names no open request of that centre."""
        found = next((r for r in self._all() if r.request_id == request_id), None)
        if found is None or found.hpid != hpid:
            raise HandshakeError(f"request {request_id!r} is not a request to {hpid}")
        if not found.open:
            raise HandshakeError(f"request {request_id!r} is already {found.state.value}")
        unit = found.unit_id
        book = self.by_unit if self.by_unit.get(unit) is found else self.second
        if kind is AnswerKind.SEEN:
            book[unit] = updated = replace(found, state=RequestState.SEEN)
            return Answered(updated, self.by_unit.get(unit), first=book is self.by_unit)
        if kind is AnswerKind.ACCEPT:
            updated = replace(found, state=RequestState.ACCEPTED, answered_at=now)
            other = self.second.pop(unit, None) if book is self.by_unit else self.by_unit.get(unit)
            self.second.pop(unit, None)
            self.by_unit[unit] = updated  # the first yes wins
            withdrawn = (replace(other, state=RequestState.WITHDRAWN),) if other is not None and other.open else ()
            return Answered(updated, updated, withdrawn, first=book is self.by_unit)
        assert reason is not None  # the payload's validator requires one
        updated = replace(found, state=RequestState.DECLINED, reason=reason, answered_at=now)
        self.refusals.setdefault(hpid, []).append(Refusal(reason, found.pathway, now))
        book[unit] = updated
        standing = self.second.get(unit)
        if book is self.by_unit and standing is not None and standing.open:
            self.by_unit[unit] = self.second.pop(unit)  # the other centre's request stands, now the unit's
            return Answered(updated, self.by_unit[unit])
        return Answered(updated, self.by_unit.get(unit), first=book is self.by_unit)

    def expire(self, now: datetime) -> list[Request]:
        """The open requests past their answer time, now given up on (R-ANSWER)."""
        gone = []
        for book in (self.by_unit, self.second):
            for unit_id, request in list(book.items()):
                if request.open and request.answer_by <= now:
                    book[unit_id] = expired = replace(request, state=RequestState.NO_ANSWER, answered_at=now)
                    gone.append(expired)
        return gone

    def pending(self, hpid: str) -> list[Request]:
        """The centre's requests waiting for its answer, oldest first."""
        return sorted((r for r in self._all() if r.hpid == hpid and r.open), key=lambda r: (r.sent_at, r.request_id))

    def next_deadline(self) -> datetime | None:
        return min((r.answer_by for r in self._all() if r.open), default=None)

    def held(self, hpid: str, reported_at: datetime | None, now: datetime) -> list[Refusal]:
        """The declines still news about the centre: after its last report, and not older than the hold."""
        kept = [
            r
            for r in self.refusals.get(hpid, [])
            if (reported_at is None or r.at > reported_at) and (now - r.at).total_seconds() <= REFUSAL_HOLD_S
        ]
        if kept:
            self.refusals[hpid] = kept
        else:
            self.refusals.pop(hpid, None)
        return kept


def refused_view(view: CentreView, refusals: Iterable[Refusal], now: datetime) -> CentreView:
    """The centre as its declines describe it (R-REFUSED): no ER bed free, or the pathway's first-tier team
    and room declared no, each as old as the decline."""
    items = dict(view.items)
    beds, beds_age = view.er_available, view.beds_age_s
    for refusal in refusals:
        age = max(0.0, (now - refusal.at).total_seconds())
        if refusal.reason is RefusalReason.NO_BED:
            beds, beds_age = 0, age
        elif refusal.reason in (RefusalReason.NO_SPECIALIST, RefusalReason.NO_EQUIPMENT) and refusal.pathway:
            tiers = PATHWAYS[refusal.pathway].tiers
            for group in tiers[0].groups if tiers else ():
                for item in group:
                    if not isinstance(item, Designation):
                        items[item.value] = Datum(False, age)
    return replace(view, items=items, er_available=beds, beds_age_s=beds_age)
