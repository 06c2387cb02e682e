"""What every page shares: the settings, the one live feed, the scenario, the language switch,
the header and the licence footer, and the words more than one page uses (the refusal reasons).

Texts are ``(Korean, English)`` pairs kept next to the page that shows them; :func:`tr`
picks the one the sidebar switch asks for (Korean by default).
"""

from __future__ import annotations

import math
import uuid

import streamlit as st

from dashboard.feed import LiveFeed
from dispatch import regions
from dispatch.pathways import PATHWAYS, Pathway
from dispatch.scenario import Scenario
from goldentime.services import mqtt_protocol
from goldentime.settings import Settings
from loaders.scenarios import default_scenario, load_scenario
from telemetry.client import MqttClient
from telemetry.schemas import Decider, RefusalReason

Text = tuple[str, str]
#: How often the live parts of a page refresh themselves (seconds).
REFRESH_S = 2.0

ATTRIBUTION: Text = (
    "지도·도로 © OpenStreetMap 기여자 (ODbL) · 응급의료기관 정보: 국립중앙의료원 E-Gen (공공누리 제1유형) · "
    "119안전센터: 소방청 (공공누리 제1유형) · 중증도 학습자료: Moon et al. 2019 (CC BY 4.0) · "
    "MIMIC-IV-ED demo (ODbL) · EDXL-HAVE 스키마 © OASIS Open · 지도 타일 © CARTO",
    "Map and roads © OpenStreetMap contributors (ODbL) · Emergency centres: NEMC E-Gen (KOGL Type 1) · "
    "119 safety centres: National Fire Agency (KOGL Type 1) · Severity training data: Moon et al. 2019 (CC BY 4.0) · "
    "MIMIC-IV-ED demo (ODbL) · EDXL-HAVE schema © OASIS Open · Map tiles © CARTO",
)
NOT_CONNECTED: Text = (
    "MQTT 연결 끊김 — 다시 연결하는 중입니다. 아래는 마지막으로 받은 정보입니다.",
    "MQTT connection lost — reconnecting. What follows is the last information received.",
)
#: Why a centre declines a transfer request: the national refusal statistics' four categories.
REFUSAL_REASONS: dict[RefusalReason, Text] = {
    RefusalReason.NO_BED: ("병상 없음", "No bed"),
    RefusalReason.NO_SPECIALIST: ("전문의 부재", "No specialist"),
    RefusalReason.NO_EQUIPMENT: ("장비 없음", "No equipment"),
    RefusalReason.OTHER: ("기타", "Other"),
}
#: Why a crew declines the advice (the tablet's choices; the decision carries the words of the tablet's language, and
#: the control room shows either in its own).
DECLINE_REASONS: list[Text] = [
    ("병원이 전화로 수용 불가", "Centre refused by phone"),
    ("환자 상태 변화", "Patient's condition changed"),
    ("도로 통제·정체", "Road closed or jammed"),
    ("환자·보호자 요청", "Patient or family request"),
    ("기타", "Other"),
]
#: The severity's recall-first "critical" call (``Severity.critical``), apart from its likeliest KTAS level.
CRITICAL: Text = ("⚠ 중증 의심", "⚠ Suspected critical")
#: Who set the urgency the router used (``Severity.decided_by``).
DECIDED_BY: dict[Decider, Text] = {
    Decider.MODEL: ("모델", "model"),
    Decider.CREW: ("구급대 판단 (Pre-KTAS·표시)", "the crew (Pre-KTAS or a flag)"),
}
_STYLE = """
<style>
  /* Readable on a 10-inch tablet with gloves on: big type, big targets. */
  html, body, [class*="css"] { font-size: 18px; }
  div.stButton > button { min-height: 3.5rem; font-size: 1.3rem; font-weight: 700; }
  .gt-card { border-radius: 0.8rem; padding: 1rem 1.2rem; margin-bottom: 0.8rem; }
  .gt-dest { background: #0b5d1e; color: #fff; }
  .gt-dest h2 { color: #fff; margin: 0 0 0.3rem 0; font-size: 2.1rem; }
  .gt-dest .gt-big { font-size: 1.6rem; font-weight: 700; }
  .gt-dest.gt-stabilise { background: #7a3a00; }
  .gt-banner { background: #b71c1c; color: #fff; font-size: 1.35rem; font-weight: 800; border-radius: 0.5rem;
               padding: 0.5rem 0.8rem; margin-bottom: 0.6rem; }
  /* The primary button is the "yes" of a page (accept, send): big and green, not the theme's red. */
  div.stButton > button[kind="primary"], button[data-testid="stBaseButton-primary"] { min-height: 4.5rem;
               font-size: 1.6rem; background: #1b7f35; border-color: #1b7f35; color: #fff; }
  .gt-request { background: #fff8e1; border: 3px solid #e65100; color: #222; }
  .gt-request h3 { margin: 0 0 0.3rem 0; font-size: 1.5rem; }
  .gt-request .gt-big { font-size: 1.3rem; font-weight: 700; }
  .gt-request .gt-late { color: #b71c1c; font-weight: 800; }
  .gt-new { animation: gt-pulse 1s ease-in-out 4; }
  @keyframes gt-pulse { 50% { box-shadow: 0 0 0 0.6rem rgba(230, 81, 0, 0.35); } }
  .gt-state { border-radius: 0.5rem; padding: 0.5rem 0.8rem; margin-top: 0.6rem; background: rgba(255,255,255,.15); }
  .gt-state .gt-go { font-size: 1.6rem; font-weight: 800; }
  .gt-steps { font-size: 1.05rem; }
  .gt-steps b { text-decoration: underline; }
  .gt-footer { font-size: 0.75rem; color: #666; margin-top: 2rem; border-top: 1px solid #ddd; padding-top: 0.5rem; }
</style>
"""


#: The query parameter that carries the language switch (``?lang=en``), so a reload or a shared link keeps it.
LANG_PARAM = "lang"


#: Run once per page load. (1) A portrait tablet (narrower than a landscape one) opens a page with the sidebar folded:
#: its 800 px are the page's; the switch and the page list stay one tap away (the ">" at the top left). (2) Streamlit
#: answers the first request a fresh server gets for a page other than the first (a tablet's bookmarked /crew?unit=…
#: after a restart) with the right page under its own English "Page not found" dialog, which makes the page inert
#: (streamlit/streamlit#9992, a known bug): the dialog is closed.
_LOAD_SCRIPT = """
<script>
(() => {
  if (window.gtPageLoaded) return;
  window.gtPageLoaded = true;
  const portrait = window.innerWidth < 1000 && window.innerHeight > window.innerWidth;
  let folded = !portrait;
  const settle = (tries) => {
    if (!folded) {
      const sidebar = document.querySelector('[data-testid="stSidebar"]');
      const button = document.querySelector('[data-testid="stSidebarCollapseButton"] button');
      if (sidebar && sidebar.getAttribute('data-collapsed') === 'false' && button) { button.click(); folded = true; }
    }
    for (const dialog of document.querySelectorAll('[role="dialog"]')) {
      if (!dialog.textContent.includes('Page not found')) continue;
      const close = dialog.querySelector('button[aria-label="Close"]');
      if (close) close.click();
    }
    if (tries > 0) setTimeout(() => settle(tries - 1), 100);
  };
  settle(50);
})();
</script>
"""


def english() -> bool:
    return bool(st.session_state.get("english", False))


def restore_language() -> None:
    """A new session (a reload, a bookmark) starts in the language its URL names; Korean when it names none."""
    if "english" not in st.session_state:
        st.session_state["english"] = st.query_params.get(LANG_PARAM) == "en"


def _language_to_url() -> None:
    if english():
        st.query_params[LANG_PARAM] = "en"
    elif LANG_PARAM in st.query_params:
        del st.query_params[LANG_PARAM]


def tr(text: Text) -> str:
    return text[1] if english() else text[0]


def pathway_name(value: str | None) -> Text | None:
    """The words of an advice's pathway (``dispatch.pathways``); the raw value when it is not one we
    know (a newer dispatcher), None when the advice names none."""
    if not value:
        return None
    try:
        return PATHWAYS[Pathway(value)].name
    except ValueError:
        return (value, value)


def region_name(region: str) -> Text:
    """A dispatcher's region in words (``gwangju`` or ``national:gwangju`` → 광주광역시 / Gwangju); a name that is not
    a 시도 (a city scenario's, such as ``seoul-central``) as it is."""
    try:
        known = regions.region(region.rsplit(":", 1)[-1])
    except regions.RegionError:
        return (region, region)
    return (known.name, known.name_en)


@st.cache_resource
def settings() -> Settings:
    """The one settings object of this dashboard process (environment ``GOLDENTIME_*``)."""
    return Settings()


@st.cache_resource(show_spinner=False)
def feed(url: str) -> LiveFeed:
    """The one background subscriber of this process, shared by every session and page."""
    config = settings()
    client_id = f"goldentime-dashboard-{uuid.uuid4().hex[:8]}"  # two dashboards must not take each other's session
    client = MqttClient(url, client_id, protocol=mqtt_protocol(config))
    return LiveFeed(client).start(timeout_s=5.0)


@st.cache_resource(show_spinner=False)
def scenario() -> Scenario:
    config = settings()
    return load_scenario(config.scenario or default_scenario(config.data_dir), config.data_dir)


def live_feed() -> LiveFeed | None:
    """The live feed, or None (with a message saying what to set) when no broker is configured."""
    url = settings().mqtt_url
    if not url:
        st.error(
            tr(
                (
                    "MQTT 브로커가 설정되지 않았습니다: GOLDENTIME_MQTT_URL 을 설정하거나 `make demo` 로 실행하세요.",
                    "No MQTT broker configured: set GOLDENTIME_MQTT_URL or start everything with `make demo`.",
                )
            )
        )
        return None
    return feed(url)


def page_header(title: Text) -> None:
    """The page title, the language switch and the tablet-sized style."""
    st.markdown(_STYLE, unsafe_allow_html=True)
    restore_language()
    st.sidebar.toggle("English", key="english")
    _language_to_url()
    st.html(_LOAD_SCRIPT, unsafe_allow_javascript=True)
    st.title(tr(title))


def footer() -> None:
    st.markdown(f'<div class="gt-footer">{tr(ATTRIBUTION)}</div>', unsafe_allow_html=True)


def age_text(seconds: float) -> str:
    """``12초 전`` / ``3 min ago``: how old a piece of information is."""
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f} s ago" if english() else f"{seconds:.0f}초 전"
    minutes = seconds / 60.0
    return f"{minutes:.0f} min ago" if english() else f"{minutes:.0f}분 전"


def duration_text(seconds: float) -> str:
    """``2분 5초`` / ``2 min 5 s``: how long something has waited or may still wait (floored, never negative)."""
    total = int(max(0.0, seconds))
    hours, minutes, secs = total // 3600, total % 3600 // 60, total % 60
    if hours:
        return f"{hours} h {minutes} min" if english() else f"{hours}시간 {minutes}분"
    if minutes:
        return f"{minutes} min {secs} s" if english() else f"{minutes}분 {secs}초"
    return f"{secs} s" if english() else f"{secs}초"


def eta_minutes(eta_s: float, elapsed_s: float = 0.0) -> int:
    """Whole minutes still to go of an ETA of ``eta_s`` given ``elapsed_s`` ago, rounded up as the router words its
    reasons (an arrival is never promised early), never negative. Every page that shows the minutes to a patient's
    arrival uses this one rounding, so the crew card and the centre page say the same number."""
    return math.ceil(max(0.0, eta_s - max(0.0, elapsed_s)) / 60.0)


def minutes_words(minutes: int) -> str:
    """``9분`` / ``9 min``."""
    return f"{minutes} min" if english() else f"{minutes}분"


def eta_text(eta_s: float, elapsed_s: float = 0.0) -> str:
    """``9분`` / ``9 min``: the minutes still to go of an ETA (:func:`eta_minutes`: rounded up, as the router words
    its reasons), the one way every page writes them."""
    return minutes_words(eta_minutes(eta_s, elapsed_s))
