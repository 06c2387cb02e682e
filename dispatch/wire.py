"""The one translation between the bus and the decision engine: an MQTT message (topic, payload bytes) to
an :mod:`dispatch.events` event, and a :mod:`dispatch.commands` command to the messages that carry it
(topic, payload, QoS, retain), on the contract of :mod:`telemetry.topics` and :mod:`telemetry.schemas`.

A message off the contract (unknown topic, malformed or empty payload) becomes a
:class:`~dispatch.commands.Refuse` at once: it never reaches the engine.
"""

from __future__ import annotations

import math
from functools import lru_cache

from dispatch.commands import (
    Advise,
    AssignUnit,
    ClearAdvice,
    ClearRequest,
    Command,
    InboundEntry,
    NoticeToUnit,
    NotifyInbound,
    PublishRequests,
    Refuse,
    RequestEntry,
    TellRequest,
)
from dispatch.events import (
    AdviceSeen,
    AnswerReceived,
    CapacityReported,
    DecisionMade,
    Event,
    IncidentReported,
    Origin,
    PositionReported,
    StatusChanged,
    VitalsReported,
)
from dispatch.explain import EN, KO, say
from dispatch.router import Option
from dispatch.severity.model import Severity
from dispatch.units import Incident
from telemetry import schemas, topics

#: The source name of the dispatcher's reports (``ems/rejected/dispatcher``).
SOURCE = "dispatcher"
#: (topic, payload, QoS, retain): one message to publish.
Publication = tuple[str, bytes, int, bool]
#: What a unit itself publishes: a refusal of one of these is reported to the unit too.
_UNIT_SENT = {topics.Kind.POSITION, topics.Kind.VITALS, topics.Kind.STATUS, topics.Kind.DECISION}
_REJECTED_PREFIX = f"{topics.ROOT}/rejected/"
#: An ETA the schema can carry (a day): an unreachable centre is shown a day away.
_MAX_ETA_S = 86_400.0


# --- in: message -> event ------------------------------------------------------------------------


def event_of(topic: str, payload: bytes) -> Event | Refuse | None:
    """The event a message brings, a refusal of it (off the contract, malformed, empty), or None (a cleared
    retained message, or a kind the engine has no use for)."""
    try:
        parsed = topics.parse(topic)
        if not payload:
            if parsed.route.retained:  # only a retained message is cleared by an empty one
                return None
            return Refuse(Origin(topic, payload), say("empty_payload", kind=parsed.kind.value))
        decoded = schemas.decode(parsed.kind, payload)
    except topics.TopicError as exc:
        return Refuse(Origin(topic, payload), say("off_contract", detail=str(exc)))
    except schemas.PayloadError as exc:
        return Refuse(Origin(topic, payload), say("malformed", detail=str(exc)))
    key = parsed.key
    match decoded:
        case schemas.Position():
            return PositionReported(key, decoded.lat, decoded.lon)
        case schemas.Vitals():
            return VitalsReported(key, decoded, origin=Origin(topic, payload))
        case schemas.Status():
            return StatusChanged(key, decoded.status, decoded.incident_id)
        case schemas.Decision():
            accept = decoded.decision is schemas.DecisionKind.ACCEPT
            return DecisionMade(key, decoded.advice_version, accept, origin=Origin(topic, payload))
        case schemas.Advice():
            destination = decoded.destination
            return AdviceSeen(key, decoded.advice_version, decoded.patient_id, destination.hpid, destination.eta_s,
                              decoded.definitive, severity_of(decoded.severity), decoded.eta_mode.value,
                              decoded.ts)  # fmt: skip
        case schemas.Capacity():
            return CapacityReported(key, decoded)
        case schemas.Incident():
            return IncidentReported(Incident(key, decoded.lat, decoded.lon, decoded.priority, decoded.category))
        case schemas.Answer():
            return AnswerReceived(key, decoded.request_id, decoded.answer, decoded.reason, decoded.text,
                                  origin=Origin(topic, payload))  # fmt: skip
    return None


def severity_of(severity: schemas.Severity | None) -> Severity | None:
    """An advice's severity as the engine holds it (no reasons: the advice carries none; from older senders,
    critical at KTAS 1-2 and decided by the model; an unreported p_emergency taken to be at least p_critical)."""
    if severity is None:
        return None
    p_emergency = severity.p_critical if severity.p_emergency is None else severity.p_emergency
    critical = severity.ktas <= 2 if severity.critical is None else severity.critical
    decider = severity.decided_by or schemas.Decider.MODEL
    crew = severity.ktas if decider is schemas.Decider.CREW else None
    return Severity(severity.ktas, severity.p_critical, p_emergency, (), critical, crew, decider)


# --- out: command -> messages ----------------------------------------------------------------------


def publications(command: Command) -> list[Publication]:
    """The messages that carry ``command`` on the contract, in order."""
    match command:
        case Advise():
            return [_send(topics.Kind.ADVICE, command.unit_id, _advice(command))]
        case ClearAdvice():
            return [(topics.build(topics.Kind.ADVICE, command.unit_id), b"", 1, True)]
        case NotifyInbound():
            patients = tuple(_inbound_patient(p) for p in command.patients)
            return [_send(topics.Kind.INBOUND, command.hpid, schemas.Inbound.new(patients=patients))]
        case AssignUnit():
            assignment = schemas.Assignment.new(
                unit_id=command.unit_id,
                eta_s=min(command.eta_s, _MAX_ETA_S),
                eta_mode=schemas.EtaMode(command.eta_mode),
            )
            return [_send(topics.Kind.ASSIGNMENT, command.incident_id, assignment)]
        case Refuse():
            origin = command.origin or Origin(topics.build(topics.Kind.DECISION, command.unit_id or SOURCE), b"")
            if origin.topic.startswith(_REJECTED_PREFIX):
                return []  # a report is never reported again
            report = schemas.Rejected.of(origin.topic, origin.payload, command.reason[KO], command.reason[EN])
            out = [_send(topics.Kind.REJECTED, SOURCE, report)]
            unit = command.unit_id or sender(origin.topic)
            if unit is not None:  # the unit's own message: it is told too, on the topic its account may read
                out.append(_send(topics.Kind.UNIT_REJECTED, unit, report))
            return out
        case NoticeToUnit():
            origin = command.origin or Origin(topics.build(topics.Kind.VITALS, command.unit_id), b"")
            notice = schemas.Rejected.of(origin.topic, origin.payload, command.reason[KO], command.reason[EN])
            return [_send(topics.Kind.UNIT_REJECTED, command.unit_id, notice)]
        case PublishRequests():
            requests = tuple(_transfer_request(r) for r in command.requests)
            return [_send(topics.Kind.REQUESTS, command.hpid, schemas.Requests.new(requests=requests))]
        case TellRequest():
            return [_send(topics.Kind.REQUEST_STATE, command.unit_id, _unit_request(command))]
        case ClearRequest():
            return [(topics.build(topics.Kind.REQUEST_STATE, command.unit_id), b"", 1, True)]
    raise TypeError(f"not a command: {command!r}")


def _send(kind: topics.Kind, key: str, payload: schemas.Payload) -> Publication:
    route = topics.CONTRACT[kind]
    return topics.build(kind, key), schemas.encode(payload), route.qos, route.retained


def _option(option: Option) -> schemas.Option:
    eta = option.eta_s if math.isfinite(option.eta_s) else _MAX_ETA_S
    return schemas.Option(hpid=option.hpid, name=option.name, eta_s=min(eta, _MAX_ETA_S),
                          beds_on_arrival=option.beds_on_arrival, reason=option.reason[:300],
                          reason_en=option.reason_en[:300] or None)  # fmt: skip


def _severity(severity: Severity | None) -> schemas.Severity | None:
    if severity is None:
        return None
    return schemas.Severity(
        ktas=severity.ktas,
        p_critical=severity.p_critical,
        p_emergency=severity.p_emergency,
        critical=severity.critical,
        decided_by=severity.decided_by,
    )


def _advice(command: Advise) -> schemas.Advice:
    return schemas.Advice.new(
        advice_version=command.advice_version,
        patient_id=command.patient_id,
        destination=_option(command.destination),
        alternatives=tuple(_option(a) for a in command.alternatives),
        severity=_severity(command.severity),
        eta_mode=schemas.EtaMode(command.eta_mode),
        pathway=command.pathway.value if command.pathway else None,
        definitive=command.definitive,
    )


@lru_cache(maxsize=8192)
def _inbound_patient(entry: InboundEntry) -> schemas.InboundPatient:
    """An entry of a pre-notification list (cached: a centre's list is sent again every second while its
    units move, and most entries have not changed since)."""
    return schemas.InboundPatient(
        unit_id=entry.unit_id,
        patient_id=entry.patient_id,
        advice_version=entry.advice_version,
        severity=_severity(entry.severity),
        eta_s=entry.eta_s,
        eta_mode=schemas.EtaMode(entry.eta_mode),
    )


def _transfer_request(entry: RequestEntry) -> schemas.TransferRequest:
    vitals = entry.vitals
    key = (
        schemas.KeyVitals()
        if vitals is None
        else schemas.KeyVitals(
            age_years=vitals.age_years,
            sex=vitals.sex,
            hr_bpm=vitals.hr_bpm,
            sbp_mmhg=vitals.sbp_mmhg,
            rr_per_min=vitals.rr_per_min,
            spo2_pct=vitals.spo2_pct,
            gcs=vitals.gcs,
            avpu=vitals.avpu,
        )
    )
    return schemas.TransferRequest(
        request_id=entry.request_id,
        unit_id=entry.unit_id,
        patient_id=entry.patient_id,
        advice_version=max(entry.advice_version, 1),
        pathway=entry.pathway.value if entry.pathway else None,
        ktas=entry.severity.ktas if entry.severity else None,
        critical=entry.critical,
        eta_s=min(entry.eta_s, _MAX_ETA_S) if math.isfinite(entry.eta_s) else _MAX_ETA_S,
        vitals=key,
        chief_complaint=None if vitals is None else vitals.chief_complaint,
        note=None if vitals is None else vitals.note,
        sent_at=entry.sent_at,
        answer_by=entry.answer_by,
        seen=entry.seen,
    )


def _unit_request(command: TellRequest) -> schemas.UnitRequest:
    return schemas.UnitRequest.new(
        request_id=command.request_id,
        hpid=command.hpid,
        name=command.name[:100],
        advice_version=max(command.advice_version, 1),
        state=command.state,
        reason=command.reason,
        message=command.message[KO][:300],
        message_en=command.message[EN][:300],
        sent_at=command.sent_at,
        answer_by=command.answer_by,
        answered_at=command.answered_at,
    )


def sender(topic: str) -> str | None:
    """The unit that published on ``topic`` (one of its own topics), or None."""
    try:
        parsed = topics.parse(topic)
    except topics.TopicError:
        return None
    return parsed.key if parsed.kind in _UNIT_SENT else None
