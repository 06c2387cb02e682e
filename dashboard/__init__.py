"""Streamlit pages: control room, crew tablet, emergency centre."""
