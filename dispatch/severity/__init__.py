"""Severity: how sick the patient in the ambulance is (KTAS level, critical and emergency probabilities)."""
