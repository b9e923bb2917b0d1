"""Why nothing fits: a structured failure with words for people and codes for programs.

The search charges every rejected candidate to the rule or resource that rejected it (the
stretch of time it ruled out, or whole days for day-level rules), so the explanation names what
blocked most of the searched window, not merely the last thing tried.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

BLOCKER_WORDS = {
    "room": "no room with {detail} free",
    "staff_shift": "no {detail} on shift",
    "staff_busy": "every {detail} on shift is already booked",
    "prescriber_on_site": "no prescriber on site during the dose",
    "patient_busy": "the patient has another appointment",
    "closed": "the clinic is closed",
    "hours": "outside opening hours",
    "availability": "outside the patient's availability ({detail})",
    "weekday": "not an allowed weekday ({detail})",
    "max_per_week": "the phase already has {detail} sessions in those 7 days",
    "max_doses_per_7_days": "the route allows only {detail} doses in 7 days",
    "min_hours_between_doses": "less than {detail} h after or before another dose",
    "window": "the rules leave no day for it ({detail})",
    "series": "the rest of the series would not fit ({detail} and open days)",
    "certification": "the clinic lacks the {detail} certification",
    "room_features": "no room at the clinic has {detail}",
    "staff_role": "no {detail} works at the clinic",
    "too_long": "the session does not fit inside any {detail}",
    "search_limit": "the search limit was reached",
    "exact_start": "the requested start breaks a rule or a resource is taken",
}


@dataclass(frozen=True)
class Blocker:
    code: str
    detail: str = ""
    share: float = 0.0
    """Fraction of the searched time this blocker ruled out (0..1)."""
    resource_ids: tuple = ()

    def words(self) -> str:
        template = BLOCKER_WORDS.get(self.code, self.code)
        return template.format(detail=self.detail) if "{detail}" in template else template

    def to_dict(self) -> dict:
        out = {"code": self.code, "detail": self.detail, "share": round(self.share, 3)}
        if self.resource_ids:
            out["resource_ids"] = list(self.resource_ids)
        return out


@dataclass(frozen=True)
class Explanation:
    session_key: str | None
    phase: str | None
    kind: str | None
    blockers: tuple[Blocker, ...]
    window_start: datetime | None = None
    window_end: datetime | None = None
    window_words: str = ""
    earliest_start_on: date | None = None
    """Earliest enrollment start date (within a year) from which the plan fits, if any."""
    searched_earliest: bool = False
    notes: tuple[str, ...] = field(default_factory=tuple)
    earliest_search_limited: bool = False
    """The earliest-date search stopped at its work limit: an earlier date may exist, and
    without a date nothing is claimed about the year."""

    @property
    def message(self) -> str:
        who = self.session_key.replace("#", " #") if self.session_key else "plan"
        reasons = "; ".join(b.words() for b in self.blockers[:3]) or "nothing fits"
        text = f"{who}: {reasons}"
        if self.window_words:
            text += f" ({self.window_words})"
        if self.earliest_start_on is not None:
            text += f"; earliest workable start date: {self.earliest_start_on.isoformat()}"
        elif self.earliest_search_limited:
            text += "; no workable start date found before the search's work limit"
        elif self.searched_earliest:
            text += "; no start date within a year works"
        return text

    def to_dict(self) -> dict:
        return {
            "message": self.message,
            "session_key": self.session_key,
            "phase": self.phase,
            "session_kind": self.kind,
            "blocking": [b.to_dict() for b in self.blockers],
            "window": {
                "start": self.window_start.isoformat() if self.window_start else None,
                "end": self.window_end.isoformat() if self.window_end else None,
            },
            "earliest_start_on": (self.earliest_start_on.isoformat()
                                  if self.earliest_start_on else None),
            "notes": list(self.notes),
            "earliest_search_complete": self.searched_earliest
            and not self.earliest_search_limited,
        }


class PlacementError(Exception):
    """No plan (or no move) satisfies every rule; ``explanation`` says why."""

    def __init__(self, explanation: Explanation) -> None:
        super().__init__(explanation.message)
        self.explanation = explanation


class Tally:
    """Charges rejected candidates to blocker codes while one session is being searched."""

    def __init__(self) -> None:
        self.seconds: dict[str, int] = {}
        self.days: dict[str, int] = {}
        self.details: dict[str, str] = {}

    def time(self, code: str, seconds: int, detail: str = "") -> None:
        self.seconds[code] = self.seconds.get(code, 0) + max(seconds, 1)
        if detail:
            self.details.setdefault(code, detail)

    def day(self, code: str, detail: str = "") -> None:
        self.days[code] = self.days.get(code, 0) + 1
        if detail:
            self.details.setdefault(code, detail)

    def blockers(self) -> tuple[Blocker, ...]:
        """Day-level blockers weigh a day each; time-level ones by the time they ruled out."""
        weights: dict[str, float] = {}
        for code, n in self.days.items():
            weights[code] = weights.get(code, 0.0) + n * 86_400
        for code, s in self.seconds.items():
            weights[code] = weights.get(code, 0.0) + s
        total = sum(weights.values()) or 1.0
        ranked = sorted(weights.items(), key=lambda kv: (-kv[1], kv[0]))
        out = []
        for code, w in ranked:
            base, _, role = code.partition(":")
            detail = role or self.details.get(code, "")
            out.append(Blocker(base, detail, w / total))
        return tuple(out)
