"""Scenarios, the discrete-event engine, policies, KPIs and the live driver."""
