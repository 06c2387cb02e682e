"""The emergency centre page's way to the capacity API: a PATCH of the status, a GET of it, and a POST of
an answer to a transfer request; no exceptions.

A charge nurse must read what went wrong, not a traceback: every call returns a
:class:`Result` whose ``detail`` is plain words, either the API's own ``detail`` (a wrong
token, a field out of range) or why the API could not be reached at all, whose ``fields``
name the fields a 422 refused, and whose ``problems`` say for each what was wrong in the API's
terms (pydantic's error type and its limits), so a page can say it in its own words and language.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote

import httpx

from telemetry import schemas

#: A tablet must not hang on a dead API: after this the nurse is told and can try again.
TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Problem:
    """One thing a 422 refused, as the API named it (FastAPI's ``{loc, msg, type, ctx}``)."""

    #: The field, dotted, without the ``body`` / ``path`` / ``query`` head: ``beds.er_general.available``.
    field: str
    #: pydantic's error type: ``greater_than_equal``, ``less_than_equal``, ``int_type``, ``value_error`` ...
    kind: str
    #: The API's English sentence (for a log; a page says it in its own words).
    message: str
    #: The limits the type names (``{"ge": 0}``, ``{"le": 10000}``, ``{"max_length": 300}``), when it has any.
    limits: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclass(frozen=True)
class Result:
    ok: bool
    #: The HTTP status; None when no answer came (nothing listening, timeout).
    status: int | None
    #: Why it failed, in words a person can act on ("" on success).
    detail: str = ""
    #: The centre as the API returned it (``HospitalPublic`` as JSON) on success.
    hospital: dict[str, Any] | None = None
    #: The answer as it was published (``ems.answer/1`` as JSON), after :func:`answer_request` succeeded.
    answer: dict[str, Any] | None = None
    #: The fields a 422 named (``reason``, ``beds.er_general.available``), in the API's order.
    fields: tuple[str, ...] = ()
    #: What a 422 refused, one per error the API listed, in its order.
    problems: tuple[Problem, ...] = ()

    def report(self) -> schemas.Capacity | None:
        """The centre's status as an ``ems.capacity/1`` report, the shape the live feed holds, signed by
        whoever updated it last (None on failure or when the centre never reported)."""
        status = (self.hospital or {}).get("status") or {}
        if status.get("updated_at") is None:
            return None
        parts = {name: status[name] for name in ("beds", "equipment", "conditions", "ems_traffic")}
        return schemas.Capacity.new(**parts, updated_at=status["updated_at"], updated_by=status.get("updated_by"))


def update_status(base_url: str, hpid: str, token: str, body: dict[str, Any]) -> Result:
    """``PATCH /hospitals/{hpid}/status`` with ``body`` (a ``StatusUpdate``)."""
    return _call("PATCH", base_url, f"/hospitals/{quote(hpid, safe='')}/status", token, body)


def get_hospital(base_url: str, hpid: str, token: str) -> Result:
    """``GET /hospitals/{hpid}``: the centre's latest status as the API stores it."""
    return _call("GET", base_url, f"/hospitals/{quote(hpid, safe='')}", token, None)


def answer_request(base_url: str, hpid: str, request_id: str, token: str, body: dict[str, Any]) -> Result:
    """``POST /hospitals/{hpid}/requests/{request_id}/answer`` with ``body`` (an ``AnswerCreate``:
    ``{"answer": "accept"}``, ``{"answer": "decline", "reason": "no_bed", "text": ...}``, ``{"answer": "seen"}``)."""
    path = f"/hospitals/{quote(hpid, safe='')}/requests/{quote(request_id, safe='')}/answer"
    result = _call("POST", base_url, path, token, body)
    return replace(result, hospital=None, answer=result.hospital) if result.ok else result


def _call(method: str, base_url: str, path: str, token: str, body: dict[str, Any] | None) -> Result:
    url, token = base_url.rstrip("/") + path, token.strip()
    if not (token.isascii() and token.isprintable()):  # cannot travel in a header; the API would say 401
        return Result(False, 401, "the token holds characters no token has: paste it again")
    try:
        response = httpx.request(
            method, url, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT_S
        )
    except httpx.ConnectError as exc:
        return Result(False, None, f"cannot connect to the capacity API at {base_url}: {_reason(exc)}")
    except httpx.TimeoutException:
        return Result(False, None, f"the capacity API at {base_url} did not answer within {TIMEOUT_S:g} s")
    except httpx.HTTPError as exc:
        return Result(False, None, f"the capacity API at {base_url} failed: {_reason(exc)}")
    if response.is_success:
        try:
            return Result(True, response.status_code, hospital=response.json())
        except ValueError:
            return Result(False, response.status_code, f"{url} answered, but not as the capacity API does")
    problems = _problems(response)
    fields = tuple(dict.fromkeys(p.field for p in problems if p.field))
    return Result(False, response.status_code, _detail(response), fields=fields, problems=problems)


def _reason(exc: Exception) -> str:
    """``connection refused`` rather than ``[Errno 111] Connection refused``."""
    text = str(exc) or type(exc).__name__
    return text.split("] ", 1)[-1].lower() if text.startswith("[Errno") else text


def _problems(response: httpx.Response) -> tuple[Problem, ...]:
    """The errors of a 422's ``detail`` list (each ``loc`` without its ``body`` / ``path`` / ``query`` head)."""
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        return ()
    if response.status_code != 422 or not isinstance(detail, list):
        return ()
    found = []
    for item in detail:
        if not isinstance(item, dict):
            continue
        loc = item.get("loc", ())
        where = ".".join(str(p) for p in loc[1:]) if isinstance(loc, list) and len(loc) > 1 else ""
        ctx = item.get("ctx")
        limits = {k: v for k, v in ctx.items() if isinstance(v, int | float | str)} if isinstance(ctx, dict) else {}
        found.append(Problem(where, str(item.get("type", "")), str(item.get("msg", "")), limits))
    return tuple(found)


def _detail(response: httpx.Response) -> str:
    """The API's ``detail``: a sentence, or FastAPI's list of invalid fields made into one line."""
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        detail = None
    if isinstance(detail, str):
        return detail
    if isinstance(detail, list):
        parts = []
        for item in detail:
            if not isinstance(item, dict):
                parts.append(str(item))
                continue
            where = ".".join(str(p) for p in item.get("loc", ()) if p != "body")
            parts.append(f"{where}: {item.get('msg', '')}" if where else str(item.get("msg", "")))
        return "; ".join(parts)
    return f"HTTP {response.status_code}: {response.text[:200] or response.reason_phrase}"
