"""The GoldenTime dashboard: ``streamlit run dashboard/app.py`` (``goldentime dashboard``, ``make demo``).

One app, four pages, one background MQTT subscriber shared by all of them
(:func:`dashboard.common.feed`).
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from dashboard.common import english, restore_language

HERE = Path(__file__).parent / "pages"

st.set_page_config(page_title="GoldenTime", page_icon="🚑", layout="wide")
restore_language()  # before the page names, which are in the language of the switch
ko = not english()
pages = [
    st.Page(HERE / "control_room.py", title="관제실" if ko else "Control room", icon="🗺️", default=True),  # at /
    st.Page(HERE / "crew.py", title="구급대 태블릿" if ko else "Crew tablet", icon="🚑", url_path="crew"),
    st.Page(HERE / "centre.py", title="응급의료기관" if ko else "Emergency centre", icon="🏥", url_path="centre"),
    st.Page(HERE / "what_if.py", title="가상 실험" if ko else "What-if", icon="📊", url_path="what-if"),
]
st.navigation(pages).run()
