"""What the capacity API does, without HTTP: seed centres, accept updates, take the centres' answers to
transfer requests, check tokens.

Answers are not stored here: each becomes an ``ems.answer/1`` message waiting in memory until the
publisher (:mod:`hospital_capacity.publisher`) has it acknowledged by the broker (the recorder keeps
every message). The FastAPI app (:mod:`hospital_capacity.api`) and the ``goldentime hospitals`` commands are
thin adapters over this class.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import logging
import secrets
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hospital_capacity import egen
from hospital_capacity.errors import CapacityError
from hospital_capacity.schemas import (
    AnswerCreate,
    HospitalCreate,
    HospitalPublic,
    ImportRefusal,
    ImportResult,
    StatusUpdate,
    UpdatePublic,
)
from hospital_capacity.state import Applied, UpdateRejected, apply, check_times, empty_state, to_public
from hospital_capacity.store import CapacityStore
from telemetry import schemas

#: The national E-Gen list (529, the 24 Gwangju rows among them, field for field); the Gwangju
#: list alone when the national one is missing.
SEED_FILES = (
    Path("hospitals") / "korea_emergency_institutions.csv",
    Path("hospitals") / "gwangju_emergency_centers.csv",
)
TOKEN_PREFIX = "gt_"
#: Answers kept for the broker while it is away; past this the oldest go (an answer that old is long past
#: its request's time to answer: the dispatcher has gone on without it).
MAX_ANSWERS_WAITING = 1000

log = logging.getLogger(__name__)


class UnknownHospital(CapacityError, LookupError):
    def __init__(self, hpid: str) -> None:
        super().__init__(f"no emergency centre with hpid {hpid!r}")
        self.hpid = hpid


class Forbidden(CapacityError, PermissionError):
    pass


class Unauthorized(CapacityError, PermissionError):
    pass


@dataclass(frozen=True)
class Caller:
    """Who holds a token: one centre (``hpid``) or the control room (``hpid`` None)."""

    label: str
    hpid: str | None

    @property
    def control_room(self) -> bool:
        return self.hpid is None

    def may_update(self, hpid: str) -> bool:
        return self.control_room or self.hpid == hpid


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def seed_rows(data_dir: Path) -> list[HospitalCreate]:
    """Centres of the E-Gen institution list in the data directory."""
    for relative in SEED_FILES:
        path = data_dir / relative
        if path.is_file():
            with path.open(encoding="utf-8", newline="") as handle:
                return [
                    HospitalCreate(
                        hpid=row["hpid"],
                        name=row["dutyName"],
                        level=int(row["level"]),
                        lat=float(row["wgs84Lat"]),
                        lon=float(row["wgs84Lon"]),
                        trauma_centre=row.get("regional_trauma_center") == "Y",
                        region=row.get("sido") or None,
                    )
                    for row in csv.DictReader(handle)
                ]
    raise FileNotFoundError(f"no E-Gen institution list in {data_dir} (looked for {', '.join(map(str, SEED_FILES))})")


class CapacityService:
    def __init__(self, store: CapacityStore, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.store = store
        self.clock = clock
        #: Set after every accepted update and answer, so the publisher wakes up at once.
        self.changed = threading.Event()
        self._answers: deque[tuple[str, schemas.Answer]] = deque()
        self._answers_lock = threading.Lock()

    # --- centres ---------------------------------------------------------------------------

    def seed(self, hospitals: Sequence[HospitalCreate]) -> int:
        rows = [{**h.model_dump(), "state": empty_state(), "version": 0, "published_version": 0} for h in hospitals]
        return self.store.add_hospitals(rows)

    def _public(self, row: dict[str, object]) -> HospitalPublic:
        state = row["state"]
        assert isinstance(state, dict)
        return HospitalPublic(
            hpid=str(row["hpid"]),
            name=str(row["name"]),
            level=int(str(row["level"])),
            lat=float(str(row["lat"])),
            lon=float(str(row["lon"])),
            trauma_centre=bool(row["trauma_centre"]),
            region=None if row["region"] is None else str(row["region"]),
            status=to_public(state, self.clock()),
        )

    def hospitals(self) -> list[HospitalPublic]:
        return [self._public(row) for row in self.store.all_hospitals()]

    def hospital(self, hpid: str) -> HospitalPublic:
        row = self.store.hospital(hpid)
        if row is None:
            raise UnknownHospital(hpid)
        return self._public(row)

    # --- updates ---------------------------------------------------------------------------

    def update(self, hpid: str, update: StatusUpdate, *, caller: Caller, source: str = "api") -> HospitalPublic:
        """Apply and store an update. Raises UnknownHospital, Forbidden or UpdateRejected;
        on any of them nothing is stored. An update that names no part changes nothing and is
        not stored; parts observed before the stored ones are kept as they were (see
        :mod:`hospital_capacity.state`), the update itself is still kept in the history."""
        self._store_update(hpid, update, caller=caller, source=source)
        return self.hospital(hpid)

    def _store_update(
        self, hpid: str, update: StatusUpdate, *, caller: Caller, source: str, now: datetime | None = None
    ) -> Applied | None:
        """What :meth:`update` does, at ``now`` (default: the clock's); the result of applying, or
        None when nothing was named."""
        if not caller.may_update(hpid):
            raise Forbidden(f"the token of {caller.hpid} may update only {caller.hpid}, not {hpid}")
        now = self.clock() if now is None else now
        check_times(update, now)
        for _ in range(10):  # optimistic concurrency: retry when another update came first
            row = self.store.hospital(hpid)
            if row is None:
                raise UnknownHospital(hpid)
            if update.changes_nothing():
                return None
            applied = apply(row["state"], update, at=update.observed_at or now, by=caller.label)
            body = update.model_dump(mode="json", exclude_unset=True)
            if self.store.save_update(
                hpid,
                expected_version=int(row["version"]),
                state=applied.state,
                body=body,
                received_at=now,
                by=caller.label,
                source=source,
            ):
                self.changed.set()
                return applied
        raise UpdateRejected(f"{hpid} is being updated by others too fast; try again")

    def history(self, hpid: str, since: datetime | None, limit: int = 1000) -> list[UpdatePublic]:
        if self.store.hospital(hpid) is None:
            raise UnknownHospital(hpid)
        return [
            UpdatePublic(
                id=int(r["id"]),
                hpid=r["hpid"],
                received_at=r["received_at"],
                updated_by=r["updated_by"],
                source=r["source"],
                update=StatusUpdate.model_validate(r["body"]),
            )
            for r in self.store.history(hpid, since, limit)
        ]

    def import_egen(self, xml: bytes, *, caller: Caller) -> ImportResult:
        """Apply every item of an E-Gen response. The file is checked whole before anything is
        stored (a bad file changes nothing); centres we do not know are listed, not created. An
        item whose ``hvidate`` the clock refuses (in the future, or before 2000) is refused with
        its reason and the others are imported; parts that were observed later than the item
        are kept and listed in ``kept_newer``."""
        operation, items = egen.parse(xml)
        now = self.clock()
        known, refused = [], []
        for item in items:
            if self.store.hospital(item.hpid) is None:
                continue
            if not caller.may_update(item.hpid):
                raise Forbidden(f"the token of {caller.hpid} may not update {item.hpid}")
            try:
                check_times(item.update, now)
            except UpdateRejected as exc:
                where = ".".join(str(p) for p in exc.loc)
                refused.append(ImportRefusal(hpid=item.hpid, reason=f"hvidate ({where}): {exc}"))
                continue
            row = self.store.hospital(item.hpid)
            assert row is not None
            apply(row["state"], item.update, at=item.update.observed_at or now, by=caller.label)
            known.append(item)
        kept: dict[str, list[str]] = {}
        for item in known:
            applied = self._store_update(item.hpid, item.update, caller=caller, source="egen", now=now)
            if applied is not None and applied.kept_newer:
                kept.setdefault(item.hpid, []).extend(applied.kept_newer)
        unknown = sorted({item.hpid for item in items if self.store.hospital(item.hpid) is None})
        return ImportResult(
            updated=[item.hpid for item in known],
            unknown_hpids=unknown,
            operation=operation,
            refused=refused,
            kept_newer=kept,
        )

    # --- answers to transfer requests --------------------------------------------------------------

    def answer(self, hpid: str, request_id: str, body: AnswerCreate, *, caller: Caller) -> schemas.Answer:
        """The ``ems.answer/1`` message of a centre's answer, queued for the publisher. Raises Forbidden
        (another centre's token) or UnknownHospital. Whether ``request_id`` is one of the centre's
        requests is the dispatcher's to say: it owns the requests (and refuses an answer to one it does
        not hold on ``ems/rejected/dispatcher``)."""
        if not caller.may_update(hpid):
            raise Forbidden(f"the token of {caller.hpid} may answer only the requests of {caller.hpid}, not {hpid}")
        if self.store.hospital(hpid) is None:
            raise UnknownHospital(hpid)
        answer = schemas.Answer.new(
            request_id=request_id,
            answer=body.answer,
            reason=body.reason,
            text=body.text,
            answered_by=body.answered_by or caller.label.strip() or None,
            ts=self.clock(),
        )
        with self._answers_lock:
            if len(self._answers) >= MAX_ANSWERS_WAITING:
                dropped_hpid, dropped = self._answers.popleft()
                log.warning("capacity service: answer %s of %s dropped, the broker is away", dropped.msg_id,
                            dropped_hpid)  # fmt: skip
            self._answers.append((hpid, answer))
        self.changed.set()
        return answer

    def answers_waiting(self) -> list[tuple[str, schemas.Answer]]:
        """The answers not yet acknowledged by the broker, oldest first, with their centre."""
        with self._answers_lock:
            return list(self._answers)

    def answers_sent(self, msg_ids: Sequence[str]) -> None:
        """Forget the answers the broker acknowledged."""
        done = set(msg_ids)
        with self._answers_lock:
            self._answers = deque(item for item in self._answers if item[1].msg_id not in done)

    # --- tokens ----------------------------------------------------------------------------

    def create_token(self, hpid: str | None, label: str, *, valid_days: float | None = None) -> str:
        """A new API token (shown once; only its SHA-256 is stored)."""
        if hpid is not None and self.store.hospital(hpid) is None:
            raise UnknownHospital(hpid)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = self.clock()
        expires = None if valid_days is None else now + timedelta(days=valid_days)
        self.store.add_token(token_digest(token), hpid, label, now, expires)
        return token

    def caller(self, token: str | None) -> Caller:
        """Who holds ``token``; Unauthorized when it is missing, malformed, unknown or expired."""
        if not token or not token.startswith(TOKEN_PREFIX) or len(token) > 200:
            raise Unauthorized("a bearer token issued by `goldentime hospitals token create` is required")
        digest = token_digest(token)
        row = self.store.token(digest)
        if row is None or not hmac.compare_digest(row["token_sha256"], digest):
            raise Unauthorized("unknown token")
        if row["expires_at"] is not None and row["expires_at"] <= self.clock():
            raise Unauthorized("token expired")
        return Caller(label=str(row["label"]), hpid=row["hpid"])
