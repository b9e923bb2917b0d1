"""Numbers with their unit, as the messages managers and front desks read show them."""

from __future__ import annotations


def quantity(n: float, unit: str) -> str:
    """``quantity(1, "day") == "1 day"``, ``quantity(2.5, "hour") == "2.5 hours"``."""
    n = round(n, 2)
    return f"{n:g} {unit}" if n == 1 else f"{n:g} {unit}s"
