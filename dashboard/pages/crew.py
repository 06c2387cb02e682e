"""Crew tablet: where to take this patient, one big card and two big buttons.

The destination card shows the centre, the ETA (the minutes still to go, :func:`dashboard.common.eta_minutes`,
the rounding the centre page uses too), the beds expected on arrival in words (``도착 시 병상 1개``) and the
reason (in English when the switch asks for it and the dispatcher sent it), under a red banner when no centre
within reach gives definitive care and the patient is taken to be stabilised; a yellow 새 목적지 badge for
:data:`~dashboard.assessment.NEW_DESTINATION_S` after the destination changed (seen by this tablet, or after
this unit's decline heard on the bus); ✅ 수락함 when the crew accepted this advice as far as the decisions heard
on ``ems/units/{unit}/decision`` tell (:func:`~dashboard.assessment.accepted_on_bus`: a reloaded tablet shows
it too); the state of the transfer request the dispatcher sent the centre for this advice
(``ems/units/{unit}/request``: 보냄 → 확인함 → 수락 / 거절(사유) / 응답 없음 / 철회, with the time
waiting), with a clear 출발하세요 once the centre accepted or its time to answer ran out. What the dispatcher
refused of this unit's messages (a decision on advice that changed since, a malformed message) or holds (vitals
before the first position) is shown above the card for two minutes.

The link (issue 25): a line at the top says 연결됨 / 재연결 중 / 연결 끊김 · 시각부터. Two links can fail: the
dashboard's own link to the broker (the server sees it: :class:`~dashboard.assessment.LinkWatch`), and the
tablet's link to the dashboard, which only the browser can see: a small script (:data:`_SCRIPT`) notices that
the live part has not been redrawn for :data:`~dashboard.assessment.RECONNECTING_AFTER_S` (it is redrawn every
2 s), says so, greys the card, and keeps the advice's age counting in the browser from the age it had when it
was drawn. A decision pressed while the tablet is cut off is said at once ("연결되면 전달합니다"); the press
reaches the dashboard when the link is back, and goes out then unless the advice changed meanwhile (then it is
not sent, and the crew is told why); if it never arrives, the script says so and asks to press again.

The decision (issue 25): Accept publishes at once; Decline opens a choice of reason with none chosen (the crew
must pick one), a confirmation button, and an undo window of :data:`~dashboard.assessment.UNDO_S` before the
decline is published (:class:`Outbox`, on a timer of the dashboard's, so it goes on time even if the tablet drops
meanwhile). Each decision shows 보내는 중 → 보냄 → 확인됨 (what each step means: :class:`dashboard.assessment.Stage`).
Decisions carry the advice version the crew saw.

Layout (issue 25): the sidebar starts collapsed (the language switch is also a button beside the unit), the card
and the buttons on the left, KTAS and the alternatives on the right, above the fold of a 1280×800 tablet; on a
narrower screen (a portrait tablet) the two columns stack. A unit id the dashboard has never heard of says
"unknown unit" rather than looking like an idle unit.

The patient's severity: the likeliest KTAS level as the headline, in its colour, with ⚠ 중증 의심 when the
dispatcher's recall-first call says critical and who set the urgency (the model, or the crew's Pre-KTAS); the
vitals trend with clock times (KST) on its time axis. Below it the crew's own assessment
(:mod:`dashboard.assessment`): the chief complaint from the vocabulary (searchable, the commonest first) or in
their own words, and Pre-KTAS 1-5; 보내기 publishes the unit's newest vitals for the current patient with them on
``ems/units/{unit}/vitals``, and says whether it went. Without the patient's vitals there is no patient to assess
yet, and the page says so.
"""

from __future__ import annotations

import html
import json
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import altair as alt
import pandas as pd
import streamlit as st

from dashboard.assessment import (
    CUT_OFF_AFTER_S,
    FREE_TEXT_MAX,
    NEW_DESTINATION_S,
    NO_PATIENT,
    NOT_GRADED,
    PATIENT_CHANGED,
    PRE_KTAS_CHOICES,
    RECONNECTING_AFTER_S,
    STEPS,
    UNDO_S,
    Accepted,
    AssessmentError,
    Link,
    LinkWatch,
    Pressed,
    Shown,
    Stage,
    Standing,
    accepted_on_bus,
    advice_moved,
    assessed_vitals,
    beds_words,
    complaint_label,
    complaint_options,
    concerns,
    declined_just_before,
    destination_changed,
    heard_of,
    is_critical,
    link_state,
    refusal_of,
    stage_of,
    standing,
    time_ticks,
)
from dashboard.common import (
    CRITICAL,
    DECIDED_BY,
    DECLINE_REASONS,
    REFRESH_S,
    REFUSAL_REASONS,
    Text,
    age_text,
    duration_text,
    english,
    eta_text,
    footer,
    live_feed,
    page_header,
    pathway_name,
    settings,
    tr,
)
from dashboard.feed import LiveFeed
from dashboard.state import KST, WAITING, CityView, Received, unit_request
from telemetry import schemas, topics
from telemetry.client import Delivery, TelemetryError

TITLE: Text = ("구급대 태블릿", "Crew tablet")
#: Over the card when no centre within reach gives the pathway's definitive care (``Advice.definitive``).
NO_DEFINITIVE: Text = (
    "⚠ 도달 가능한 범위에 최종 치료 가능 기관 없음 — 안정화를 위해 이송합니다",
    "⚠ No definitive care within reach — the patient goes here to be stabilised",
)
#: A refusal or notice from the dispatcher is shown this long after it came (a decline refused because the
#: advice changed, vitals held until the first position).
REFUSAL_SHOWN_S = 120.0
#: The request's states in the crew's words.
REQUEST_STATES: dict[schemas.RequestState, Text] = {
    schemas.RequestState.SENT: ("보냄", "Sent"),
    schemas.RequestState.SEEN: ("확인함", "Seen"),
    schemas.RequestState.ACCEPTED: ("수락", "Accepted"),
    schemas.RequestState.DECLINED: ("거절", "Declined"),
    schemas.RequestState.NO_ANSWER: ("응답 없음", "No answer"),
    schemas.RequestState.WITHDRAWN: ("철회", "Withdrawn"),
}
ANSWER_PENDING: Text = ("수락 / 거절", "accept / decline")
GO: Text = ("✅ 수락 — 출발하세요", "✅ Accepted — go now")
GO_WITHOUT_ANSWER: Text = ("⏱ 응답 없음: 안내대로 출발", "⏱ No answer: go as advised")
WAIT_FOR_ADVICE: Text = ("❌ 거절 — 새 안내를 기다리세요", "❌ Declined — wait for new advice")
KTAS_COLOURS = {1: "#1565c0", 2: "#c62828", 3: "#f9a825", 4: "#2e7d32", 5: "#eeeeee"}
KTAS_MARKS = {1: "🔵", 2: "🔴", 3: "🟡", 4: "🟢", 5: "⚪"}  # the KTAS colours, where only text goes
DECIDED_BY_LABEL: Text = ("판단", "Set by")
ASSESSMENT: Text = ("구급대 평가 (주 증상 · Pre-KTAS)", "Crew assessment (chief complaint · Pre-KTAS)")
NOT_GRADED_WORDS: Text = ("미분류", "Not graded")
SENT: Text = ("보냈습니다: {what} (환자 {patient})", "Sent: {what} (patient {patient})")
NOT_SENT: Text = ("전송 실패 — 다시 눌러 주세요: ", "Not sent — press again: ")
QUEUED: Text = (
    "아직 전송 확인이 없습니다 (연결 끊김?). 연결되면 자동으로 보냅니다.",
    "Not confirmed yet (connection lost?). It goes out once the connection is back.",
)
#: How long 보내기 waits for the broker to take the crew's assessment (QoS 1) before saying it is not confirmed.
SEND_WAIT_S = 5.0

# --- the link -----------------------------------------------------------------------------------------------------

#: The dashboard's own link to the broker, in the crew's words (``{since}``: a KST clock time; ``{for}``: how long).
LINK_WORDS: dict[Link, Text] = {
    Link.CONNECTED: ("🟢 연결됨", "🟢 Connected"),
    Link.RECONNECTING: ("🟠 관제 서버 재연결 중… {since}부터", "🟠 Reconnecting to dispatch… since {since}"),
    Link.CUT_OFF: (
        "🔴 관제와 연결 끊김 · {since}부터 ({for}) — 아래는 끊기기 전 정보입니다",
        "🔴 Cut off from dispatch since {since} ({for}) — what follows is from before",
    ),
}
#: What the browser's script says of the tablet's own link (``{since}``: the last redraw, ``{for}``: seconds),
#: and of a decision pressed meanwhile (``{what}``: the button).
BROWSER_WORDS: dict[str, Text] = {
    "reconnecting": ("🟠 재연결 중… 마지막 수신 {since}", "🟠 Reconnecting… last update {since}"),
    "cutOff": (
        "🔴 연결 끊김 · {since}부터 ({for}초째) — 아래는 끊기기 전 정보입니다",
        "🔴 Cut off since {since} ({for} s) — what follows is from before",
    ),
    "queued": (
        "⚠ 연결 끊김: '{what}'을(를) 눌렀습니다 — 연결이 돌아오면 전달합니다. "
        "그 사이 안내가 바뀌면 보내지 않고 알려 드립니다.",
        "⚠ Cut off: '{what}' pressed — it goes through once the link is back; if the advice changes meanwhile it is "
        "not sent, and you are told.",
    ),
    "lost": (
        "⚠ 연결이 끊긴 동안 누른 '{what}'이(가) 전달되지 않았습니다 — 다시 누르세요.",
        "⚠ '{what}', pressed while cut off, did not get through — press it again.",
    ),
}
#: After the link is back, a press made while cut off must have reached the dashboard within this (seconds).
DELIVER_WITHIN_S = 8.0
UNKNOWN_UNIT: Text = (
    "❓ 알 수 없는 구급차 '{unit}': 이 구급차의 보고를 받은 적이 없습니다. 번호를 확인하세요 "
    "(방금 켠 구급차라면 첫 보고 뒤에 나타납니다).",
    "❓ Unknown unit '{unit}': no report from it was ever heard. Check the number "
    "(a unit just switched on appears after its first report).",
)
LANGUAGE_BUTTON: Text = ("🌐 English", "🌐 한국어")

# --- the decision -------------------------------------------------------------------------------------------------

ACCEPT: Text = ("✅ 수락", "✅ Accept")
DECLINE: Text = ("❌ 거절", "❌ Decline")
ACCEPTED: Text = ("✅ 수락함", "✅ Accepted")
NEW_DESTINATION: Text = ("🆕 새 목적지", "🆕 New destination")
DECLINE_ASK: Text = (
    "거절 사유를 고르고 '거절 확정'을 누르세요. 확정 후 {s}초 안에는 되돌릴 수 있습니다.",
    "Choose why, then press 'Confirm decline'. You can undo it for {s} s after confirming.",
)
REASON_LABEL: Text = ("거절 사유 (하나를 고르세요)", "Reason to decline (choose one)")
CONFIRM: Text = ("거절 확정", "Confirm decline")
CANCEL: Text = ("취소", "Cancel")
UNDO: Text = ("↩ 되돌리기", "↩ Undo")
UNDO_TOO_LATE: Text = ("이미 보냈습니다 — 되돌릴 수 없습니다.", "Already sent — it cannot be undone.")
#: The steps and the other outcomes of a decision, as the progress line names them.
STAGE_WORDS: dict[Stage, Text] = {
    Stage.HELD: ("보내기 전", "Not sent yet"),
    Stage.SENDING: ("보내는 중", "Sending"),
    Stage.SENT: ("보냄", "Sent"),
    Stage.ACKNOWLEDGED: ("확인됨", "Acknowledged"),
    Stage.REFUSED: ("거부됨", "Refused"),
    Stage.NOT_SENT: ("보내지 않음", "Not sent"),
    Stage.UNDONE: ("되돌림", "Undone"),
}
KIND_WORDS: dict[schemas.DecisionKind, Text] = {
    schemas.DecisionKind.ACCEPT: ("수락", "Accept"),
    schemas.DecisionKind.DECLINE: ("거절", "Decline"),
}
#: What a decision's stage means for the crew, by kind (``{reason}``: a refusal's, ``{s}``: seconds to undo).
DECISION_WORDS: dict[tuple[schemas.DecisionKind, Stage], Text] = {
    (schemas.DecisionKind.ACCEPT, Stage.SENDING): ("수락을 보내는 중입니다…", "Sending the accept…"),
    (schemas.DecisionKind.ACCEPT, Stage.SENT): (
        "수락을 보냈습니다. 관제 확인을 기다리는 중입니다.",
        "Accept sent. Waiting for dispatch to confirm.",
    ),
    (schemas.DecisionKind.ACCEPT, Stage.ACKNOWLEDGED): (
        "수락을 보냈습니다. 관제로 전달되었습니다.",
        "Accept sent and delivered to dispatch.",
    ),
    (schemas.DecisionKind.DECLINE, Stage.HELD): (
        "거절({reason})을 {s}초 후 보냅니다 — 잘못 눌렀다면 되돌리세요.",
        "Declining ({reason}) in {s} s — undo it if this was a mistake.",
    ),
    (schemas.DecisionKind.DECLINE, Stage.SENDING): ("거절을 보내는 중입니다…", "Sending the decline…"),
    (schemas.DecisionKind.DECLINE, Stage.SENT): (
        "거절을 보냈습니다. 새 안내를 기다리세요.",
        "Declined: sent. Wait for new advice.",
    ),
    (schemas.DecisionKind.DECLINE, Stage.ACKNOWLEDGED): (
        "거절이 반영되었습니다: 새 안내가 왔습니다.",
        "Decline taken: the new advice is here.",
    ),
    (schemas.DecisionKind.DECLINE, Stage.UNDONE): (
        "거절을 되돌렸습니다. 보내지 않았습니다.",
        "Decline undone: nothing sent.",
    ),
}
REFUSED_WORDS: Text = ("관제가 결정을 거부했습니다: {reason}", "Dispatch refused the decision: {reason}")
OFFLINE_SENDING: Text = (
    "관제 서버와 연결이 끊겨 있습니다 — 연결되면 보냅니다.",
    "The dashboard is cut off from dispatch — it goes out once the link is back.",
)
PRESSES = "decide-presses"

_CREW_STYLE = """
<style>
  /* The page to the top of the screen and the title small: the card, KTAS and the alternatives above the fold. */
  [data-testid="stMainBlockContainer"] { padding-top: 2.8rem !important; padding-bottom: 1rem !important;
      padding-left: 1.2rem !important; padding-right: 1.2rem !important; max-width: 100% !important; }
  h1 { font-size: 1.45rem !important; padding: 0 !important; line-height: 1.3 !important; }
  .gt-link { border-radius: 0.5rem; padding: 0.25rem 0.8rem; font-size: 1.05rem; font-weight: 700; }
  .gt-link[data-state="connected"] { background: #e8f5e9; color: #1b5e20; }
  .gt-link[data-state="reconnecting"] { background: #fff3e0; color: #e65100; border: 3px solid #e65100; }
  .gt-link[data-state="cut_off"] { background: #b71c1c; color: #fff; font-size: 1.3rem; }
  .gt-unknown { background: #fff3e0; color: #4e2600; border: 3px solid #e65100; border-radius: 0.5rem;
                padding: 0.5rem 0.8rem; font-size: 1.2rem; font-weight: 700; }
  .gt-dest .gt-big { line-height: 1.5; }
  .gt-beds { display: inline-block; background: #fff; color: #0b5d1e; border-radius: 0.4rem; padding: 0 0.5rem;
             margin-left: 0.2rem; white-space: nowrap; }
  .gt-stabilise .gt-beds { color: #7a3a00; }
  .gt-new-dest { display: inline-block; background: #ffeb3b; color: #000; border-radius: 0.4rem; font-weight: 800;
                 padding: 0.1rem 0.6rem; margin-bottom: 0.3rem; font-size: 1.2rem; }
  .gt-accepted { display: inline-block; background: #fff; color: #0b5d1e; border-radius: 0.4rem; font-weight: 800;
                 padding: 0.1rem 0.6rem; margin-top: 0.5rem; font-size: 1.3rem; }
  .gt-offline-note { display: none; background: #fff; color: #b71c1c; border-radius: 0.4rem; font-weight: 800;
                     padding: 0.2rem 0.6rem; margin-bottom: 0.4rem; }
  .gt-dest.gt-offline, body.gt-cut-off .gt-dest { background: #616161 !important; }
  .gt-dest.gt-offline .gt-offline-note, body.gt-cut-off .gt-offline-note { display: block; }
  .gt-progress { border: 3px solid #1b7f35; border-radius: 0.5rem; padding: 0.4rem 0.8rem; font-size: 1.1rem; }
  .gt-progress[data-stage="held"] { border-color: #e65100; background: #fff3e0; font-size: 1.3rem; font-weight: 700; }
  .gt-progress[data-stage="refused"], .gt-progress[data-stage="not_sent"] { border-color: #b71c1c;
      background: #ffebee; }
  .gt-progress .gt-steps b { text-decoration: underline; }
  .gt-alts { font-size: 1.0rem; }
  .gt-alts .gt-alt-title { font-weight: 800; font-size: 1.15rem; margin-bottom: 0.2rem; }
  .gt-alt { border-top: 1px solid #ddd; padding: 0.3rem 0; }
  .gt-alt .gt-beds { background: #eee; color: #000; }
  .gt-alt .gt-why { font-size: 0.9rem; opacity: 0.8; }
  .gt-severity { padding: 0.6rem 1rem !important; }
  /* The browser's own bar when the tablet's link to the dashboard is down (the server's line then speaks of
     before: hidden), and what it says of a decision pressed meanwhile. */
  #gt-link-browser { position: fixed; top: 0; left: 0; right: 0; z-index: 1000001; padding: 0.6rem 1rem;
                     font-size: 1.3rem; font-weight: 800; text-align: center; }
  #gt-link-browser[data-state="reconnecting"] { background: #fff3e0; color: #e65100; border-bottom: 4px solid #e65100; }
  #gt-link-browser[data-state="cut_off"] { background: #b71c1c; color: #fff; }
  body.gt-cut-off [data-testid="link-state"] { visibility: hidden; }
  #gt-offline-press { position: fixed; top: 4rem; left: 50%; transform: translateX(-50%); z-index: 1000000;
                      width: min(90vw, 44rem); background: #4e2600; color: #fff; font-size: 1.3rem; font-weight: 800;
                      border-radius: 0.6rem; padding: 0.8rem 1.2rem; box-shadow: 0 0.3rem 1rem rgba(0,0,0,.4); }
  #gt-offline-press[data-state="lost"] { background: #b71c1c; }
  [class*="st-key-decide-"] button { min-height: 4.5rem; font-size: 1.5rem; font-weight: 700; }
  [class*="st-key-decide-reason"] button { min-height: 3.2rem; font-size: 1.15rem; }
  [class*="st-key-decide-undo"] button { background: #e65100; color: #fff; border-color: #e65100; }
  [class*="st-key-decide-confirm"] button:enabled { background: #b71c1c; color: #fff; border-color: #b71c1c; }
  /* A portrait tablet (or anything narrower than a landscape one): the card's and KTAS's columns stack. */
  @media (max-width: 1000px) {
    [data-testid="stHorizontalBlock"]:has(> [data-testid="stColumn"] .st-key-crew-left) { flex-direction: column; }
    [data-testid="stHorizontalBlock"]:has(> [data-testid="stColumn"] .st-key-crew-left) > [data-testid="stColumn"] {
        width: 100% !important; flex: 1 1 auto !important; }
  }
  .gt-severity .gt-big { font-size: 1.8rem; font-weight: 800; }
  .gt-critical { display: inline-block; margin-left: 0.6rem; padding: 0.1rem 0.6rem; border-radius: 0.5rem;
                 background: #fff; color: #b71c1c; border: 3px solid #b71c1c; font-size: 1.4rem; font-weight: 800; }
  .gt-assessed { font-size: 1.1rem; margin-bottom: 0.4rem; }
  /* The assessment form, gloves on: big fields, big Pre-KTAS buttons in the KTAS colours, a big send. */
  [class*="st-key-assess-"] input { font-size: 1.3rem; min-height: 2.8rem; }
  [class*="st-key-assess-ktas"] button { min-height: 4rem; min-width: 4.8rem; font-size: 1.5rem; font-weight: 800; }
  [class*="st-key-assess-ktas"] button:nth-of-type(1) { border: 4px solid #1565c0; }
  [class*="st-key-assess-ktas"] button:nth-of-type(2) { border: 4px solid #c62828; }
  [class*="st-key-assess-ktas"] button:nth-of-type(3) { border: 4px solid #f9a825; }
  [class*="st-key-assess-ktas"] button:nth-of-type(4) { border: 4px solid #2e7d32; }
  [class*="st-key-assess-ktas"] button:nth-of-type(5) { border: 4px solid #9e9e9e; }
  [class*="st-key-assess-ktas"] button[aria-checked="true"]:nth-of-type(1) { background: #1565c0 !important;
      color: #fff !important; border-color: #1565c0 !important; }
  [class*="st-key-assess-ktas"] button[aria-checked="true"]:nth-of-type(2) { background: #c62828 !important;
      color: #fff !important; border-color: #c62828 !important; }
  [class*="st-key-assess-ktas"] button[aria-checked="true"]:nth-of-type(3) { background: #f9a825 !important;
      color: #000 !important; border-color: #f9a825 !important; }
  [class*="st-key-assess-ktas"] button[aria-checked="true"]:nth-of-type(4) { background: #2e7d32 !important;
      color: #fff !important; border-color: #2e7d32 !important; }
  [class*="st-key-assess-ktas"] button[aria-checked="true"]:nth-of-type(5) { background: #eeeeee !important;
      color: #000 !important; border-color: #9e9e9e !important; }
  [class*="st-key-assess-ktas"] button p { font-size: 1.5rem; font-weight: 800; color: inherit !important; }
  [class*="st-key-assess-send"] button p { font-size: 1.6rem; font-weight: 700; }
  [class*="st-key-assess-send"] button { min-height: 4.5rem; font-size: 1.6rem; font-weight: 700; background: #1b7f35;
                                         border-color: #1b7f35; color: #fff; }
</style>
"""
#: The browser's half of the link (st.html runs it in the page; installed once per page load). Every 0.5 s: the
#: newest link line's render stamp (``data-gt-stamp``, new at each redraw) tells when the dashboard was last heard;
#: quiet for RECONNECTING_AFTER_S (or the browser offline) → a bar of its own across the top says reconnecting, then
#: cut off since the last redraw, the server's line is hidden (it speaks of before) and the body gets ``gt-cut-off``
#: (the card greys). Ages (``data-gt-age-s``: the age when drawn) and countdowns (``data-gt-left-s``) go on counting
#: from when their redraw was first seen, in the browser's own time (no clock shared with the server is needed). A
#: press on a decision button while quiet is said at once; it is cleared when the dashboard's count of presses
#: (``data-gt-presses``) grows, or said lost when it has not grown DELIVER_WITHIN_S after the link came back. The
#: script writes only into elements it made and into the text of the age and countdown spans, never the server's
#: line or attributes (Streamlit redraws those).
_SCRIPT = """
<script>
(() => {
  if (window.gtCrewTablet) return;
  const CFG = __CONFIG__;
  const state = {seen: new Map(), stamp: null, fresh: Date.now(), pending: null, lostAt: null};
  window.gtCrewTablet = state;
  const clock = (ms) => new Date(ms).toLocaleTimeString('en-GB', {timeZone: 'Asia/Seoul', hour12: false});
  const firstSeen = (stamp) => {
    if (!state.seen.has(stamp)) state.seen.set(stamp, Date.now());
    return state.seen.get(stamp);
  };
  const ageText = (s, en) => {
    s = Math.max(0, s);
    if (s < 90) return en ? `${Math.round(s)} s ago` : `${Math.round(s)}초 전`;
    const m = Math.round(s / 60);
    return en ? `${m} min ago` : `${m}분 전`;
  };
  const newest = () => {
    const all = document.querySelectorAll('[data-testid="link-state"]');
    return all.length ? all[all.length - 1] : null;
  };
  const words = (el) => CFG.words[el && el.dataset.gtLang === 'en' ? 1 : 0];
  const presses = (el) => parseInt((el && el.dataset.gtPresses) || '0', 10);
  const own = (id, testid, text, kind) => {
    let el = document.getElementById(id);
    if (!text) { if (el) el.remove(); return; }
    if (!el) {
      el = document.createElement('div');
      el.id = id;
      el.setAttribute('data-testid', testid);
      el.setAttribute('role', 'alert');
      document.body.appendChild(el);
    }
    if (el.dataset.state !== kind) el.dataset.state = kind;
    if (el.textContent !== text) el.textContent = text;
  };
  const quietS = () => (Date.now() - state.fresh) / 1000;
  const down = () => !navigator.onLine || quietS() >= CFG.reconnectingAfter;
  const tick = () => {
    const now = Date.now(), el = newest();
    if (!el) return;
    if (el.dataset.gtStamp !== state.stamp) {
      state.stamp = el.dataset.gtStamp;
      state.fresh = now;
      firstSeen(state.stamp);
    }
    const quiet = quietS(), w = words(el);
    if (down()) {
      const kind = (!navigator.onLine || quiet >= CFG.cutOffAfter) ? 'cut_off' : 'reconnecting';
      const text = w[kind === 'cut_off' ? 'cutOff' : 'reconnecting']
        .replace('{since}', clock(state.fresh)).replace('{for}', String(Math.round(quiet)));
      own('gt-link-browser', 'link-browser', text, kind);
    } else {
      own('gt-link-browser', 'link-browser', null, null);
    }
    document.body.classList.toggle('gt-cut-off', down());
    document.querySelectorAll('[data-gt-age-s]').forEach((a) => {
      const s = parseFloat(a.dataset.gtAgeS) + (now - firstSeen(a.dataset.gtStamp)) / 1000;
      const t = ageText(s, a.dataset.gtLang === 'en');
      if (a.textContent !== t) a.textContent = t;
    });
    document.querySelectorAll('[data-gt-left-s]').forEach((a) => {
      const left = parseFloat(a.dataset.gtLeftS) - (now - firstSeen(a.dataset.gtStamp)) / 1000;
      const t = String(Math.max(0, Math.ceil(left)));
      if (a.textContent !== t) a.textContent = t;
    });
    const p = state.pending;
    if (p) {
      if (presses(el) > p.presses) {
        state.pending = null;
        own('gt-offline-press', 'offline-press', null, null);
      } else if (!down()) {
        if (p.back === null) p.back = now;
        if (now - p.back > CFG.deliverWithin * 1000) {
          state.pending = null;
          state.lostAt = now;
          own('gt-offline-press', 'offline-press', w.lost.replace('{what}', p.label), 'lost');
        }
      }
    } else if (state.lostAt !== null && now - state.lostAt > 30000) {
      state.lostAt = null;
      own('gt-offline-press', 'offline-press', null, null);
    }
  };
  document.addEventListener('click', (e) => {
    const button = e.target.closest ? e.target.closest('[class*="st-key-decide-"] button') : null;
    if (!button || !down()) return;
    const el = newest();
    state.pending = {label: button.innerText.trim(), presses: presses(el), back: null};
    state.lostAt = null;
    own('gt-offline-press', 'offline-press', words(el).queued.replace('{what}', state.pending.label), 'queued');
  }, true);
  setInterval(tick, 500);
})();
</script>
"""
TREND = {"hr_bpm": "HR", "sbp_mmhg": "SBP", "spo2_pct": "SpO₂", "rr_per_min": "RR"}


def _script() -> str:
    config = {
        "reconnectingAfter": RECONNECTING_AFTER_S,
        "cutOffAfter": CUT_OFF_AFTER_S,
        "deliverWithin": DELIVER_WITHIN_S,
        "words": [{k: v[i] for k, v in BROWSER_WORDS.items()} for i in (0, 1)],
    }
    return _SCRIPT.replace("__CONFIG__", json.dumps(config, ensure_ascii=False))


def clock_text(at: datetime) -> str:
    """``14:03:12``: a moment as a clock time in Korea."""
    return at.astimezone(KST).strftime("%H:%M:%S")


def _lang() -> str:
    return "en" if english() else "ko"


def age_html(age_s: float, stamp: str) -> str:
    """An age the browser goes on counting (``data-gt-age-s`` from the redraw ``stamp`` on)."""
    return (
        f'<span class="gt-age" data-gt-age-s="{max(0.0, age_s):.1f}" data-gt-stamp="{stamp}" '
        f'data-gt-lang="{_lang()}">{age_text(age_s)}</span>'
    )


def link_html(link: Link, down_since: datetime | None, now: datetime, stamp: str, presses: int) -> str:
    """The link line: the dashboard's own link to the broker as the server sees it; the browser's script
    overrides it when the tablet's link to the dashboard goes quiet."""
    since = clock_text(down_since) if down_since is not None else ""
    gone = duration_text((now - down_since).total_seconds()) if down_since is not None else ""
    words = tr(LINK_WORDS[link]).replace("{since}", since).replace("{for}", gone)
    return (
        f'<div class="gt-link" data-testid="link-state" data-state="{link.value}" data-server-state="{link.value}" '
        f'data-gt-stamp="{stamp}" data-gt-lang="{_lang()}" data-gt-presses="{presses}" role="status">'
        f"{html.escape(words)}</div>"
    )


def _switch_language() -> None:
    st.session_state["english"] = not english()


@st.cache_resource(show_spinner=False)
def _link_watch(url: str) -> LinkWatch:
    """Since when this dashboard's link to the broker at ``url`` is down, shared by every tablet it serves."""
    return LinkWatch()


def _unit_choice(feed: LiveFeed) -> str | None:
    view = feed.snapshot()
    units = sorted(view.units)
    wanted = st.query_params.get("unit")
    if wanted and wanted not in units:
        units.insert(0, wanted)  # a tablet bookmarked for its unit, before the unit has reported (or mistyped)
    if not units:
        st.info(tr(("아직 보고한 구급차가 없습니다.", "No unit has reported yet.")))
        return None
    index = units.index(wanted) if wanted in units else 0
    unit = str(
        st.selectbox(
            tr(("구급차", "Unit")),
            units,
            index=index,
            key="unit",
        )
    )
    st.query_params["unit"] = unit  # a reload opens this unit again
    return unit


def reason_text(option: schemas.Option) -> str:
    """The reason in the language of the switch: English when asked for and the dispatcher sent it."""
    return option.reason_en if english() and option.reason_en else option.reason


def _banner(advice: schemas.Advice) -> str:
    if advice.definitive:
        return ""
    name = pathway_name(advice.pathway)
    prefix = f"{tr(name)} · " if name else ""
    words = html.escape(prefix + tr(NO_DEFINITIVE))
    return f'<div class="gt-banner" role="alert" data-testid="no-definitive">{words}</div>'


def _state_words(request: schemas.UnitRequest) -> str:
    words = tr(REQUEST_STATES[request.state])
    if request.state is schemas.RequestState.DECLINED and request.reason is not None:
        words += f" ({tr(REFUSAL_REASONS[request.reason])})"
    return words


def request_html(request: schemas.UnitRequest, now: datetime) -> str:
    """Where the centre's answer stands: the steps so far, the time waiting, and what to do now."""
    state = request.state
    overdue = state in WAITING and now >= request.answer_by
    steps = [tr(REQUEST_STATES[schemas.RequestState.SENT])]
    if state is schemas.RequestState.SENT:
        steps = [f"<b>{steps[0]}</b>", tr(REQUEST_STATES[schemas.RequestState.SEEN]), tr(ANSWER_PENDING)]
    elif state is schemas.RequestState.SEEN:
        steps = [f"{steps[0]} ✓", f"<b>{tr(REQUEST_STATES[state])}</b>", tr(ANSWER_PENDING)]
    elif state in (schemas.RequestState.ACCEPTED, schemas.RequestState.DECLINED):
        seen = tr(REQUEST_STATES[schemas.RequestState.SEEN])
        steps = [f"{steps[0]} ✓", f"{seen} ✓", f"<b>{html.escape(_state_words(request))}</b>"]
    else:  # no answer, withdrawn
        steps = [f"{steps[0]} ✓", f"<b>{tr(REQUEST_STATES[state])}</b>"]
    lines = [f'<div class="gt-steps">{tr(("수용 요청", "Request"))} · {html.escape(request.name)}: '
             f"{' → '.join(steps)}</div>"]  # fmt: skip
    if request.answered_at is not None:
        took = duration_text((request.answered_at - request.sent_at).total_seconds())
        lines.append(f"<div>{tr(('응답까지', 'Answered in'))} {took}</div>")
    else:
        waited = f"{tr(('대기', 'Waiting'))} {duration_text((now - request.sent_at).total_seconds())}"
        left = (request.answer_by - now).total_seconds()
        if state in WAITING and left > 0:
            waited += " · " + tr(("응답 기한까지 {d}", "{d} left to answer")).format(d=duration_text(left))
        lines.append(f"<div>{waited}</div>")
    act = {
        schemas.RequestState.ACCEPTED: GO,
        schemas.RequestState.NO_ANSWER: GO_WITHOUT_ANSWER,
        schemas.RequestState.DECLINED: WAIT_FOR_ADVICE,
    }.get(state, GO_WITHOUT_ANSWER if overdue else None)
    if act is not None:
        lines.append(f'<div class="gt-go" data-testid="request-go">{html.escape(tr(act))}</div>')
    message = request.message_en if english() and request.message_en else request.message
    lines.append(f"<div style='opacity:.85'>{html.escape(message)}</div>")
    return f'<div class="gt-state" data-testid="request-state" data-state="{state.value}">{"".join(lines)}</div>'


def beds_html(beds: int | None) -> str:
    return (
        f'<span class="gt-beds" data-testid="beds" data-beds="{"" if beds is None else beds}">'
        f"{html.escape(beds_words(beds, english=english()))}</span>"
    )


def card_html(
    advice: schemas.Advice,
    *,
    age_s: float,
    now: datetime,
    stamp: str,
    request: schemas.UnitRequest | None = None,
    new_destination: bool = False,
    accepted: Accepted | None = None,
    offline: bool = False,
) -> str:
    """The destination card. ``age_s``: since the dashboard received the advice (counted on by the browser); the
    ETA counts down from the advice's own time, as the centre page's does from its inbound list's."""
    d = advice.destination
    elapsed_s = (now - advice.ts).total_seconds()
    mode = tr((" (추정)", " (approximate)")) if advice.eta_mode is schemas.EtaMode.APPROXIMATE else ""
    kind = "gt-dest" if advice.definitive else "gt-dest gt-stabilise"
    kind += " gt-new" if new_destination else ""
    kind += " gt-offline" if offline else ""
    note = tr(("⚠ 연결 끊김 — 끊기기 전의 안내입니다", "⚠ Cut off — this advice is from before"))
    badge = f'<div class="gt-new-dest" data-testid="new-destination">{tr(NEW_DESTINATION)}</div>'
    badge = badge if new_destination else ""
    done = ""
    if accepted is not None:
        when = f" · {clock_text(accepted.at)}" if accepted.at is not None else ""
        done = (
            f'<div class="gt-accepted" data-testid="accepted" data-version="{accepted.advice_version}">'
            f"{tr(ACCEPTED)} (v{accepted.advice_version}{when})</div>"
        )
    return (
        f'<div class="gt-card {kind}" data-testid="destination-card" data-hpid="{html.escape(d.hpid)}">'
        f'<div class="gt-offline-note">{html.escape(note)}</div>'
        f"{_banner(advice)}{badge}"
        f"<h2>{html.escape(d.name)}</h2>"
        f'<div class="gt-big">{tr(("도착 예정", "ETA"))} '
        f'<span data-testid="eta" data-left-s="{max(0.0, d.eta_s - max(0.0, elapsed_s)):.0f}">'
        f"{eta_text(d.eta_s, elapsed_s)}</span>{mode} · "
        f"{beds_html(d.beds_on_arrival)}</div>"
        f"<div>{html.escape(reason_text(d))}</div>"
        f"{request_html(request, now) if request is not None else ''}"
        f"{done}"
        f"<div style='opacity:.8'>v{advice.advice_version} · {age_html(age_s, stamp)}</div></div>"
    )


def alternatives_html(advice: schemas.Advice, now: datetime) -> str:
    """The other centres, each on two short lines: name, ETA and beds; then why it is not the first."""
    if not advice.alternatives:
        return ""
    elapsed_s = (now - advice.ts).total_seconds()
    rows = "".join(
        f'<div class="gt-alt" data-hpid="{html.escape(o.hpid)}"><div><b>{html.escape(o.name)}</b> · '
        f"{tr(('도착 예정', 'ETA'))} {eta_text(o.eta_s, elapsed_s)} · {beds_html(o.beds_on_arrival)}</div>"
        f'<div class="gt-why">{html.escape(reason_text(o))}</div></div>'
        for o in advice.alternatives
    )
    title = tr(("다른 선택지", "Alternatives"))
    return f'<div class="gt-alts" data-testid="alternatives"><div class="gt-alt-title">{title}</div>{rows}</div>'


def severity_html(severity: schemas.Severity) -> str:
    """How sick the patient is: the likeliest KTAS level as the headline, in its colour; beside it the critical
    call when it says critical, who set the urgency when the dispatcher says; p(critical) in small."""
    s = severity
    critical = is_critical(s)
    head = f'<span class="gt-big">KTAS {s.ktas}</span>'
    if critical:
        head += f'<span class="gt-critical" data-testid="critical">{html.escape(tr(CRITICAL))}</span>'
    lines = [f"<div>{head}</div>"]
    if s.decided_by is not None:
        lines.append(
            f'<div class="gt-big" style="font-size:1.2rem" data-testid="decided-by">'
            f"{tr(DECIDED_BY_LABEL)}: {html.escape(tr(DECIDED_BY[s.decided_by]))}</div>"
        )
    lines.append(f"<div style='opacity:.85'>{tr(('위중 확률', 'p(critical)'))} {s.p_critical:.0%}</div>")
    decided = s.decided_by.value if s.decided_by is not None else ""
    return (
        f'<div class="gt-card gt-severity" data-testid="severity" data-ktas="{s.ktas}" '
        f'data-critical="{str(critical).lower()}" data-decided-by="{decided}" '
        f'style="background:{KTAS_COLOURS[s.ktas]};color:{"#000" if s.ktas >= 3 else "#fff"}">{"".join(lines)}</div>'
    )


def trend_chart(vitals: list[schemas.Vitals]) -> alt.Chart:
    """The vitals trend, its time axis in clock times (KST, ``14:03:12``) at whole-second steps (:func:`time_ticks`).

    The times are the Korean wall clock written as UTC and drawn on a UTC scale, so the labels are the same in a
    browser set to any time zone."""
    rows = [
        {"time": v.ts.astimezone(KST).replace(tzinfo=UTC), "sign": label, "value": getattr(v, field)}
        for v in vitals
        for field, label in TREND.items()
        if getattr(v, field) is not None
    ]
    frame = pd.DataFrame(rows, columns=["time", "sign", "value"])
    ticks = time_ticks(frame["time"].min(), frame["time"].max()) if rows else []
    values = [
        alt.DateTime(year=t.year, month=t.month, date=t.day, hours=t.hour, minutes=t.minute, seconds=t.second, utc=True)
        for t in ticks
    ]
    axis = alt.Axis(format="%H:%M:%S", labelAngle=0, values=values, title=None)
    x = alt.X("time:T", scale=alt.Scale(type="utc"), axis=axis)
    y = alt.Y("value:Q", title=None)
    colour = alt.Color("sign:N", title=None, legend=alt.Legend(orient="bottom"))
    chart: alt.Chart = alt.Chart(frame).mark_line(point=True).encode(x=x, y=y, color=colour).properties(height=200)
    return chart


def refusal_text(refusal: schemas.Rejected, age_s: float) -> str:
    """What the dispatcher said of one of this unit's messages, in the switch's language, with its age."""
    reason = refusal.reason_en if english() and refusal.reason_en else refusal.reason
    return f"{reason} ({age_text(age_s)})"


def _refusal(received: Received | None, now: datetime) -> None:
    if received is None or not isinstance(received.payload, schemas.Rejected):
        return
    age_s = (now - received.received_at).total_seconds()
    if age_s <= REFUSAL_SHOWN_S:
        st.warning(refusal_text(received.payload, age_s), icon="⚠️")


# --- the crew's decision ----------------------------------------------------------------------------------------


class Outbox:
    """One decision the crew pressed, on its way: published at once (an accept) or when its undo window is over
    (a decline, on a timer of the dashboard's own, so it goes on time whatever the tablet's link does meanwhile).
    Thread-safe: the timer publishes while the page reads :meth:`facts`."""

    def __init__(self, feed: LiveFeed, unit: str, pressed: Pressed) -> None:
        self.feed, self.unit = feed, unit
        self._lock = threading.Lock()
        self._pressed = pressed
        self._delivery: Delivery | None = None
        self._timer: threading.Timer | None = None

    def hold(self, seconds: float) -> None:
        """Publish in ``seconds`` unless undone before."""
        self._timer = threading.Timer(seconds, self.publish)
        self._timer.daemon = True
        self._timer.start()

    def publish(self) -> None:
        """Publish the decision, unless undone, already published, or the advice changed since the press (a
        decline's destination replaced during its undo window: it would be refused; the crew is told instead)."""
        with self._lock:
            p = self._pressed
            if p.undone or p.error is not None or p.decision is not None:
                return
            moved = advice_moved(p.shown, _advice_of(self.feed.snapshot(), self.unit))
            if moved is not None:
                self._pressed = replace(p, error=moved)
                return
            decision = schemas.Decision.new(advice_version=p.shown.advice_version, decision=p.kind, reason=p.reason)
            try:
                self._delivery = self.feed.send(topics.Kind.DECISION, self.unit, decision)
            except TelemetryError as exc:
                self._pressed = replace(p, error=(NOT_SENT[0] + str(exc), NOT_SENT[1] + str(exc)))
                return
            self._pressed = replace(p, decision=decision)

    def undo(self) -> bool:
        """Undo a decline still held: True; False when it was already published."""
        with self._lock:
            if self._pressed.decision is not None or self._pressed.error is not None:
                return False
            self._pressed = replace(self._pressed, undone=True)
        if self._timer is not None:
            self._timer.cancel()
        return True

    def settled(self, timeout_s: float) -> bool:
        """Wait until the hold is over (published, or undone): True when it is."""
        if self._timer is not None:
            self._timer.join(timeout_s)
            return not self._timer.is_alive()
        return True

    def facts(self) -> Pressed:
        """What has become of the decision so far (with whether the broker took it)."""
        with self._lock:
            pressed, delivery = self._pressed, self._delivery
        return replace(pressed, broker_acked=delivery is not None and delivery.wait(0))


def _outbox_key(unit: str) -> str:
    return f"decide-outbox-{unit}"


def _open_key(unit: str) -> str:
    return f"decide-open-{unit}"


def _late_key(unit: str) -> str:
    return f"decide-late-{unit}"


def _count_press() -> None:
    """Every press of a decision button, counted: the browser's script learns from it that a press made while cut
    off has arrived."""
    st.session_state[PRESSES] = int(st.session_state.get(PRESSES, 0)) + 1


def _advice_of(view: CityView, unit: str) -> schemas.Advice | None:
    received = view.advice.get(unit)
    return received.payload if received is not None and isinstance(received.payload, schemas.Advice) else None


def _press(feed: LiveFeed, unit: str, shown: Shown, kind: schemas.DecisionKind, reason: str | None = None) -> None:
    """A decision pressed on ``shown``: not sent if the advice has changed since (a press that waited for the link),
    else published now (accept) or held for the undo window (decline)."""
    now = schemas.utc_now()
    error = advice_moved(shown, _advice_of(feed.snapshot(), unit))
    hold = kind is schemas.DecisionKind.DECLINE and error is None
    due = now + timedelta(seconds=UNDO_S) if hold else None
    outbox = Outbox(feed, unit, Pressed(kind, shown, now, reason=reason, due_at=due, error=error))
    st.session_state[_outbox_key(unit)] = outbox
    st.session_state.pop(_late_key(unit), None)
    if error is not None:
        return
    if hold:
        outbox.hold(UNDO_S)
    else:
        outbox.publish()


def _on_accept(feed: LiveFeed, unit: str, shown: Shown) -> None:
    _count_press()
    _press(feed, unit, shown, schemas.DecisionKind.ACCEPT)


def _reason_key(unit: str, shown: Shown) -> str:
    return f"decide-reason-{unit}-{shown.patient_id}-{shown.hpid}"


def _on_decline(unit: str, shown: Shown) -> None:
    _count_press()
    st.session_state[_open_key(unit)] = (shown.patient_id, shown.hpid)
    st.session_state.pop(_reason_key(unit, shown), None)  # every decline starts with no reason chosen


def _on_cancel(unit: str) -> None:
    _count_press()
    st.session_state.pop(_open_key(unit), None)


def _on_confirm(feed: LiveFeed, unit: str, shown: Shown, reason_key: str) -> None:
    _count_press()
    choice = st.session_state.get(reason_key)
    if choice is None:
        return  # the button is disabled until a reason is chosen
    st.session_state.pop(_open_key(unit), None)
    _press(feed, unit, shown, schemas.DecisionKind.DECLINE, tr(DECLINE_REASONS[int(choice)]))


def _on_undo(unit: str) -> None:
    _count_press()
    outbox = st.session_state.get(_outbox_key(unit))  # an Outbox (of an earlier run's class: no isinstance)
    if outbox is not None and not outbox.undo():
        st.session_state[_late_key(unit)] = True


def progress_html(pressed: Pressed, stage: Stage, view: CityView, unit: str, *, connected: bool, stamp: str) -> str:
    """Where the crew's decision stands: 보내는 중 → 보냄 → 확인됨 (the step reached underlined), and what it means."""
    kind, now = pressed.kind, schemas.utc_now()
    if stage in STEPS:
        at = STEPS.index(stage)
        steps = [
            f"<b>{tr(STAGE_WORDS[s])}</b>" if i == at else f"{tr(STAGE_WORDS[s])}{' ✓' if i < at else ''}"
            for i, s in enumerate(STEPS)
        ]
    elif stage is Stage.HELD:
        steps = [f"<b>{tr(STAGE_WORDS[stage])}</b>", *(tr(STAGE_WORDS[s]) for s in STEPS)]
    elif stage is Stage.REFUSED:
        steps = [f"{tr(STAGE_WORDS[s])} ✓" for s in STEPS[:2]] + [f"<b>{tr(STAGE_WORDS[stage])}</b>"]
    else:
        steps = [f"<b>{tr(STAGE_WORDS[stage])}</b>"]
    what = f"{tr(KIND_WORDS[kind])} · {html.escape(pressed.shown.name)} v{pressed.shown.advice_version}"
    if stage is Stage.HELD and pressed.due_at is not None:
        left_s = max(0.0, (pressed.due_at - now).total_seconds())
        countdown = f'<span data-gt-left-s="{left_s:.1f}" data-gt-stamp="{stamp}">{int(-(-left_s // 1))}</span>'
        words = html.escape(tr(DECISION_WORDS[(kind, stage)])).replace("{s}", countdown)
        words = words.replace("{reason}", html.escape(pressed.reason or ""))
    elif stage is Stage.REFUSED and pressed.decision is not None:
        refusal = refusal_of(view, unit, pressed.decision)
        reason = (refusal.reason_en if english() and refusal.reason_en else refusal.reason) if refusal else ""
        words = html.escape(tr(REFUSED_WORDS).format(reason=reason))
    elif stage is Stage.NOT_SENT and pressed.error is not None:
        words = html.escape(tr(pressed.error))
    elif stage is Stage.SENDING and not connected:
        words = html.escape(tr(OFFLINE_SENDING))
    else:
        words = html.escape(tr(DECISION_WORDS.get((kind, stage), STAGE_WORDS[stage])))
    return (
        f'<div class="gt-progress" data-testid="decision-progress" data-kind="{kind.value}" '
        f'data-stage="{stage.value}" data-version="{pressed.shown.advice_version}">'
        f'<div class="gt-steps">{what}: {" → ".join(steps)}</div><div>{words}</div></div>'
    )


def _decisions(
    feed: LiveFeed, unit: str, advice: schemas.Advice, view: CityView, now: datetime, stamp: str,
    accepted: Accepted | None,
) -> None:  # fmt: skip
    """The buttons, the decline's reason and confirmation, the undo window, and where the last decision stands."""
    state, shown = st.session_state, Shown.of(advice)
    # not isinstance: Streamlit runs this page anew each time, and an Outbox of the run before is of the class then
    outbox = state.get(_outbox_key(unit))
    pressed: Pressed | None = outbox.facts() if outbox is not None else None
    stage = stage_of(pressed, view, unit) if pressed is not None else None
    if pressed is None or stage is None or not concerns(pressed, stage, advice, now):
        pressed = stage = None
    progress = (
        progress_html(pressed, stage, view, unit, connected=feed.connected, stamp=stamp)
        if pressed is not None and stage is not None
        else ""
    )
    if stage is Stage.HELD:  # a decline in its undo window: only the undo
        st.markdown(progress, unsafe_allow_html=True)
        st.button(tr(UNDO), key=f"decide-undo-{unit}", on_click=_on_undo, args=(unit,), width="stretch")
        return
    on_its_way = (
        pressed is not None
        and pressed.kind is schemas.DecisionKind.ACCEPT
        and pressed.shown.hpid == shown.hpid
        and stage in STEPS
    )
    panel_open = state.get(_open_key(unit)) == (shown.patient_id, shown.hpid)
    if accepted is None and not on_its_way:
        left, right = st.columns(2)
        left.button(tr(ACCEPT), type="primary", key=f"decide-accept-{unit}", on_click=_on_accept,
                    args=(feed, unit, shown), width="stretch")  # fmt: skip
    else:
        right = st.container()
    right.button(tr(DECLINE), key=f"decide-decline-{unit}", on_click=_on_decline, args=(unit, shown),
                 disabled=panel_open, width="stretch")  # fmt: skip
    if panel_open:
        with st.container(key=f"decide-panel-{unit}", border=True):
            st.markdown(f"**{tr(DECLINE_ASK).format(s=f'{UNDO_S:.0f}')}**")
            reason_key = _reason_key(unit, shown)
            in_english = english()  # bound now: the widget may format its options outside this run
            choice = st.pills(tr(REASON_LABEL), list(range(len(DECLINE_REASONS))),
                              format_func=lambda i: DECLINE_REASONS[i][in_english], key=reason_key,
                              on_change=_count_press)  # fmt: skip
            confirm, cancel = st.columns(2)
            confirm.button(tr(CONFIRM), key=f"decide-confirm-{unit}", on_click=_on_confirm,
                           args=(feed, unit, shown, reason_key), disabled=choice is None, width="stretch")  # fmt: skip
            cancel.button(tr(CANCEL), key=f"decide-cancel-{unit}", on_click=_on_cancel, args=(unit,), width="stretch")
    if state.get(_late_key(unit)):
        st.warning(tr(UNDO_TOO_LATE))
    if progress:
        st.markdown(progress, unsafe_allow_html=True)


def _new_destination(view: CityView, unit: str, advice: schemas.Advice, now: datetime) -> bool:
    """Show the 새 목적지 badge? For NEW_DESTINATION_S after this tablet saw the patient's destination change, or
    after the unit's decline of an earlier advice (heard on the bus: a tablet opened since shows it too)."""
    key = f"crew-shown-{unit}"
    before = st.session_state.get(key)
    if destination_changed(before[:2] if before else None, advice):
        st.session_state[key] = (advice.patient_id, advice.destination.hpid, now)
    elif before is None or before[:2] != (advice.patient_id, advice.destination.hpid):
        st.session_state[key] = (advice.patient_id, advice.destination.hpid, None)
    changed_at = st.session_state[key][2]
    if changed_at is not None and (now - changed_at).total_seconds() <= NEW_DESTINATION_S:
        return True
    return declined_just_before(view, unit, advice, now) is not None


@st.fragment(run_every=REFRESH_S)
def live(feed: LiveFeed, unit: str) -> None:
    view, now = feed.snapshot(), schemas.utc_now()
    stamp = str(time.time_ns())
    connected = feed.connected
    down_since = _link_watch(settings().mqtt_url or "").observe(connected, now)
    link = link_state(connected, down_since, now)
    presses = int(st.session_state.get(PRESSES, 0))
    st.markdown(link_html(link, down_since, now, stamp, presses), unsafe_allow_html=True)
    if not heard_of(view, unit):
        words = html.escape(tr(UNKNOWN_UNIT).format(unit=unit), quote=False)
        st.markdown(f'<div class="gt-unknown" role="alert" data-testid="unknown-unit">{words}</div>',
                    unsafe_allow_html=True)  # fmt: skip
    _refusal(view.refusals.get(unit), now)
    received = view.advice.get(unit)
    advice = _advice_of(view, unit)
    history = list(view.vitals.get(unit, ()))
    if received is None or advice is None:
        st.info(tr(("아직 안내가 없습니다. 환자 활력징후가 전송되면 안내가 나옵니다.",
                    "No advice yet. It appears once the patient's vitals are sent.")))  # fmt: skip
        if history:
            st.altair_chart(trend_chart(history), width="stretch")
    else:
        _advised(feed, unit, view, received, advice, history, now, stamp, link)
    st.subheader(tr(ASSESSMENT))
    _standing(standing(history), now)


def _advised(
    feed: LiveFeed, unit: str, view: CityView, received: Received, advice: schemas.Advice,
    history: list[schemas.Vitals], now: datetime, stamp: str, link: Link,
) -> None:  # fmt: skip
    """The card and the decision on the left; KTAS, the alternatives and the vitals trend on the right."""
    request = unit_request(view, unit, advice.destination.hpid)
    accepted = accepted_on_bus(view, unit, advice)
    left, right = st.columns([3, 2], gap="medium")
    with left, st.container(key="crew-left"):
        card = card_html(
            advice,
            age_s=(now - received.received_at).total_seconds(),
            now=now,
            stamp=stamp,
            request=request,
            new_destination=_new_destination(view, unit, advice, now),
            accepted=accepted,
            offline=link is not Link.CONNECTED,
        )
        st.markdown(card, unsafe_allow_html=True)
        _decisions(feed, unit, advice, view, now, stamp, accepted)
    with right:
        if advice.severity is not None:
            st.markdown(severity_html(advice.severity), unsafe_allow_html=True)
        alternatives = alternatives_html(advice, now)
        if alternatives:
            st.markdown(alternatives, unsafe_allow_html=True)
        if history:
            st.altair_chart(trend_chart(history), width="stretch")


# --- the crew's assessment -------------------------------------------------------------------------------------


def pre_ktas_words(level: int | None) -> str:
    """``🔴 2`` for a Pre-KTAS level, ``미분류`` when not graded (the form's buttons)."""
    return f"{KTAS_MARKS[level]} {level}" if level is not None and level in KTAS_MARKS else tr(NOT_GRADED_WORDS)


def assessment_words(complaint: str | None, pre_ktas: int | None, *, english: bool) -> str:
    """``흉통 · Pre-KTAS 🔴 2``: a chief complaint and a Pre-KTAS as the crew reads them."""
    what = complaint or ("no chief complaint" if english else "주 증상 없음")
    known = pre_ktas is not None and pre_ktas in KTAS_MARKS
    grade = f"{KTAS_MARKS[pre_ktas]} {pre_ktas}" if known and pre_ktas is not None else NOT_GRADED_WORDS[english]
    return f"{what} · Pre-KTAS {grade}"


def _standing(now_standing: Standing, now: datetime) -> None:
    """The patient the assessment will go with, and what stands for them (live, above the form)."""
    s = now_standing
    if s.patient_id is None or s.vitals_at is None:
        st.warning(tr(NO_PATIENT), icon="⚠️")
        return
    age = age_text((now - s.vitals_at).total_seconds())
    words = (
        f"{tr(('환자', 'Patient'))} {html.escape(s.patient_id)} · {tr(('최근 활력징후', 'latest vitals'))} {age} · "
        f"{tr(('현재', 'now'))}: {html.escape(assessment_words(s.complaint, s.pre_ktas, english=english()))}"
    )
    st.markdown(f'<div class="gt-assessed" data-testid="assessment-standing">{words}</div>', unsafe_allow_html=True)


def _keys(unit: str) -> dict[str, str]:
    return {name: f"assess-{name}-{unit}" for name in ("complaint", "text", "ktas", "send", "form", "patient", "out")}


def _send_assessment(
    feed: LiveFeed, unit: str, history: list[schemas.Vitals], shown: str | None, code: str | None, text: str,
    level: int | None,
) -> tuple[str, Text]:  # fmt: skip
    """Build and publish the crew's assessment: (``success`` / ``warning`` / ``error``, the words to show)."""
    try:
        vitals = assessed_vitals(history, code=code, free_text=text, pre_ktas=level, shown_patient=shown)
    except AssessmentError as exc:
        return "error", exc.words
    try:
        delivery = feed.send(topics.Kind.VITALS, unit, vitals)
    except TelemetryError as exc:
        return "error", (NOT_SENT[0] + str(exc), NOT_SENT[1] + str(exc))
    if not feed.connected or not delivery.wait(SEND_WAIT_S):
        return "warning", QUEUED
    return "success", (
        SENT[0].format(what=assessment_words(vitals.chief_complaint, vitals.pre_ktas, english=False),
                       patient=vitals.patient_id),
        SENT[1].format(what=assessment_words(vitals.chief_complaint, vitals.pre_ktas, english=True),
                       patient=vitals.patient_id),
    )  # fmt: skip


@st.fragment
def assessment_form(feed: LiveFeed, unit: str) -> None:
    """The crew's assessment: a form (nothing reruns while the crew types), refreshed only when used. A new
    patient since the form was last shown clears it: the entries were for someone else."""
    keys, state = _keys(unit), st.session_state
    history = list(feed.snapshot().vitals.get(unit, ()))
    patient = history[-1].patient_id if history else None
    shown = state.get(keys["patient"])
    changed = patient is not None and shown is not None and shown != patient
    if changed:
        # set, not deleted: a value set through the session state is also what the tablet's widgets then show
        state[keys["complaint"]], state[keys["text"]], state[keys["ktas"]] = None, "", NOT_GRADED
        words = (PATIENT_CHANGED[0].format(old=shown, new=patient), PATIENT_CHANGED[1].format(old=shown, new=patient))
        state[keys["out"]] = ("info", words)
    if patient is not None:
        state[keys["patient"]] = patient
    state.setdefault(keys["ktas"], NOT_GRADED)
    in_english = english()
    with st.form(keys["form"], enter_to_submit=False):
        code = st.selectbox(
            tr(("주 증상", "Chief complaint")),
            complaint_options(),
            index=None,
            format_func=lambda c: complaint_label(c, english=in_english),
            placeholder=tr(("눌러서 검색 (예: 흉통, 복통, chest)", "Tap to search (e.g. chest pain, 흉통)")),
            key=keys["complaint"],
        )
        text = st.text_input(
            tr(("직접 입력 (목록에 없거나 덧붙일 때)", "In your own words (not in the list, or to add)")),
            max_chars=FREE_TEXT_MAX,
            key=keys["text"],
        )
        level = st.segmented_control(
            tr(("Pre-KTAS (구급대 판단)", "Pre-KTAS (the crew's grade)")),
            PRE_KTAS_CHOICES,
            format_func=pre_ktas_words,
            required=True,
            key=keys["ktas"],
        )
        st.caption(tr(("미분류: 이 환자에게 이전에 보낸 Pre-KTAS가 있으면 그대로 유지됩니다.",
                       "Not graded: a Pre-KTAS sent before for this patient stands.")))  # fmt: skip
        sent = st.form_submit_button(tr(("📤 보내기", "📤 Send")), key=keys["send"], width="stretch")
    if sent and not changed:
        state[keys["out"]] = _send_assessment(feed, unit, history, shown, code, text or "", level)
    outcome = state.get(keys["out"])
    if outcome is not None:
        kind, words = outcome
        {"success": st.success, "warning": st.warning, "error": st.error, "info": st.info}[kind](tr(words))


st.set_page_config(layout="wide", initial_sidebar_state="collapsed")  # a portrait tablet keeps its 800 px
page_header(TITLE)
st.markdown(_CREW_STYLE, unsafe_allow_html=True)
feed = live_feed()
if feed is not None:
    choice, language = st.columns([5, 1], vertical_alignment="bottom")
    with choice:
        chosen = _unit_choice(feed)
    with language:
        st.button(tr(LANGUAGE_BUTTON), key="crew-language", on_click=_switch_language, width="stretch")
        st.html(_script(), unsafe_allow_javascript=True)
    if chosen is not None:
        live(feed, chosen)
        assessment_form(feed, chosen)
footer()
