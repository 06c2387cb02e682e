"""The decision core: severity, roads, destination router and unit choice.

Pure functions and frozen dataclasses, no I/O; only ``dispatch.service`` touches the bus.
See DESIGN.md "Layout and layering".
"""
