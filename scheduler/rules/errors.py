"""How a rejected rule document is reported: one error per problem, each with path and code."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class FieldError:
    path: str
    """Where, e.g. ``phases[1].gap_days.min``; empty for the document itself."""
    message: str
    rule: str
    """A short machine code, e.g. ``route.min_monitoring_minutes``."""

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message, "rule": self.rule}


class RuleValidationError(ValueError):
    """Every problem found in one rule document; the API answers 422 with ``to_dict()``."""

    def __init__(self, errors: Sequence[FieldError]):
        self.errors = list(errors)
        super().__init__("; ".join(f"{e.path or '(body)'}: {e.message}" for e in self.errors))

    def to_dict(self) -> dict[str, list[dict[str, str]]]:
        return {"errors": [e.to_dict() for e in self.errors]}
