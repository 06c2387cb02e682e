"""Emergency-centre capacity: the FastAPI service, its SQL store and the E-Gen / EDXL-HAVE adapters."""
