"""Why nothing fits: a structured failure with words for a front desk and codes for programs.

The search charges every rejected candidate to the rule or resource that rejected it (the
stretch of time it ruled out, or whole days for day-level rules), and notes the weekdays it
happened on, so the explanation leads with what blocked the time the patient could come (not
merely the last thing tried). The patient's availability is hard, but it is the frame, not the
cause: days outside it are reported after what blocked the days inside it. Codes are those of
``scheduler.rules.codes``, the one vocabulary the evaluator also speaks.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime
from zoneinfo import ZoneInfo

from scheduler.rules import codes
from scheduler.rules.model import WEEKDAYS

DAY_NAMES = dict(zip(WEEKDAYS, ("Mondays", "Tuesdays", "Wednesdays", "Thursdays", "Fridays",
                                "Saturdays", "Sundays"), strict=True))

# One sentence per code; {clinic}, {detail}, {role}, {days} and {phase} are filled in.
SENTENCES = {
    codes.ROOM: "every room at {clinic} with {detail} is taken{days}",
    codes.STAFF_SHIFT: "no {role} is on shift at {clinic}{days}",
    codes.STAFF_BUSY: "every {role} on shift at {clinic} is already booked{days}",
    codes.PRESCRIBER_ON_SITE: "no prescriber is on site at {clinic} during the dose{days}",
    codes.PATIENT_BUSY: "the patient has other appointments at those times",
    codes.CLOSED: "{clinic} is closed{days}",
    codes.CLOSURE: "{clinic} is closed on the days searched",
    codes.HOURS: "the session does not fit in {clinic}'s opening hours{days}",
    codes.AVAILABILITY: "the patient can come only {detail}",
    codes.WEEKDAYS: "the plan allows {phase} only on {detail}",
    codes.MAX_PER_WEEK: "{phase} already has {detail} sessions in those 7 days, the most the "
                        "plan allows",
    codes.ROUTE_MAX_DOSES_PER_7_DAYS: "this route allows at most {detail} doses in 7 days",
    codes.MIN_HOURS_BETWEEN_DOSES: "doses must be at least {detail} hours apart",
    codes.WINDOW: "the plan's spacing rules ({detail}) leave no day for it",
    codes.SERIES: "the rest of the series ({detail}) would not fit after it",
    codes.ROUTE_REQUIRED_CERTIFICATION: "{clinic} lacks the {detail} certification this "
                                        "treatment needs",
    codes.ROOM_FEATURES: "no room at {clinic} has {detail}",
    codes.STAFF_ROLE: "no {detail} works at {clinic}",
    codes.TOO_LONG: "the session is longer than any {detail}",
    codes.SEARCH_LIMIT: "the search stopped at its work limit before trying every time",
    codes.EXACT_START: "that exact time breaks a rule, or its room or staff are taken",
}
RANKED_LAST = frozenset({codes.AVAILABILITY, codes.SEARCH_LIMIT})
"""Context rather than cause: listed after every other blocker."""
FRAME_ONLY = frozenset({codes.CLOSED, codes.CLOSURE})


@dataclass(frozen=True)
class Blocker:
    code: str
    detail: str = ""
    share: float = 0.0
    """Fraction of the searched time this blocker ruled out (0..1)."""
    resource_ids: tuple = ()
    weekdays: tuple[str, ...] = ()
    """The weekdays it blocked on (in week order), when it is a weekday's doing."""

    def sentence(self, clinic: str = "", phase: str = "") -> str:
        template = SENTENCES.get(self.code, self.code.replace("_", " "))
        detail = _availability(self.detail) if self.code == codes.AVAILABILITY else self.detail
        return template.format(clinic=clinic or "the clinic", detail=detail,
                               role=self.detail or "staff member",
                               days=_on_days(self.weekdays), phase=phase or "the phase")

    def to_dict(self) -> dict:
        out = {"code": self.code, "detail": self.detail, "share": round(self.share, 3)}
        if self.resource_ids:
            out["resource_ids"] = list(self.resource_ids)
        if self.weekdays:
            out["weekdays"] = list(self.weekdays)
        return out


def _on_days(weekdays: tuple[str, ...]) -> str:
    """" on Saturdays", " on Mondays and Tuesdays"; nothing when it is most of the week."""
    if not weekdays or len(weekdays) > 3:
        return ""
    names = [DAY_NAMES[d] for d in weekdays]
    return " on " + (names[0] if len(names) == 1 else
                     ", ".join(names[:-1]) + " and " + names[-1])


def _availability(detail: str) -> str:
    """``sat 09:00-15:00`` (as the engine notes it) → "on Saturdays between 09:00 and 15:00"."""
    parts = []
    for token in detail.split():
        if "-" in token and ":" in token:
            earliest, _, latest = token.partition("-")
            parts.append(f"between {earliest} and {latest}")
        else:
            days = tuple(d for d in WEEKDAYS if d in token.split("/"))
            names = [DAY_NAMES[d] for d in days]
            if names:
                parts.append("on " + (names[0] if len(names) == 1 else
                                      ", ".join(names[:-1]) + " and " + names[-1]))
    return " ".join(parts) or "at other times"


def merged(blockers) -> tuple[Blocker, ...]:
    """One entry per code and detail (the largest share, the union of weekdays), the cause
    first and the patient's availability after it."""
    by_key: dict[tuple[str, str], Blocker] = {}
    for b in blockers:
        key = (b.code, b.detail)
        seen = by_key.get(key)
        if seen is None:
            by_key[key] = b
            continue
        days = tuple(d for d in WEEKDAYS if d in set(seen.weekdays) | set(b.weekdays))
        by_key[key] = replace(seen, share=max(seen.share, b.share),
                              resource_ids=tuple(dict.fromkeys(seen.resource_ids +
                                                               b.resource_ids)),
                              weekdays=days)
    ordered = list(by_key.values())
    # The patient's days frame the search; when something blocked the days inside them, that
    # is the cause. With nothing but closed days besides, the patient's hours are the cause.
    framing = RANKED_LAST if any(b.code not in RANKED_LAST | FRAME_ONLY for b in ordered) \
        else frozenset({codes.SEARCH_LIMIT})
    return tuple([b for b in ordered if b.code not in framing]
                 + [b for b in ordered if b.code in framing])


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


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
    clinic_name: str = ""
    """How the words name the clinic (the engine knows ids only; the caller adds the name)."""
    timezone: str | None = None
    """The clinic's zone: the window's times are shown at its offset."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "blockers", merged(self.blockers))

    def at_clinic(self, name: str, timezone: str) -> Explanation:
        return replace(self, clinic_name=name, timezone=timezone)

    @property
    def session_label(self) -> str | None:
        return self.session_key.replace("#", " #") if self.session_key else None

    @property
    def message(self) -> str:
        """The causes first, in a front desk's words; then which session and where it looked;
        then what date would work."""
        # A note says in full what a series blocker only names.
        said = [b for b in self.blockers if not (self.notes and b.code == codes.SERIES)]
        sentences = [_capitalised(b.sentence(self.clinic_name, self.phase or "")) + "."
                     for b in said[:3]]
        sentences += [_capitalised(note.rstrip(".")) + "." for note in self.notes]
        if not sentences:
            sentences.append("Nothing fits.")
        if self.session_label:
            where = f" ({self.window_words})" if self.window_words else ""
            sentences.append(f"{_capitalised(self.session_label)} could not be placed{where}.")
        if self.earliest_start_on is not None:
            sentences.append(
                f"The earliest start date that works is {self.earliest_start_on.isoformat()}.")
        elif self.earliest_search_limited:
            sentences.append("No workable start date was found before the search's work limit.")
        elif self.searched_earliest:
            sentences.append("No start date within a year works.")
        return " ".join(sentences)

    def _local(self, moment: datetime) -> str:
        return (moment.astimezone(ZoneInfo(self.timezone)) if self.timezone else
                moment).isoformat()

    def to_dict(self) -> dict:
        window = None
        if self.window_start is not None and self.window_end is not None:
            window = {"start": self._local(self.window_start),
                      "end": self._local(self.window_end)}
        return {
            "message": self.message,
            "session_key": self.session_key,
            "phase": self.phase,
            "session_kind": self.kind,
            "blocking": [b.to_dict() for b in self.blockers],
            "window": window,
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
        self.weekdays: dict[str, set[str]] = {}

    def time(self, code: str, seconds: int, detail: str = "",
             weekday: str | None = None) -> None:
        self.seconds[code] = self.seconds.get(code, 0) + max(seconds, 1)
        self._note(code, detail, weekday)

    def day(self, code: str, detail: str = "", weekday: str | None = None) -> None:
        self.days[code] = self.days.get(code, 0) + 1
        self._note(code, detail, weekday)

    def _note(self, code: str, detail: str, weekday: str | None) -> None:
        if detail:
            self.details.setdefault(code, detail)
        if weekday is not None:
            self.weekdays.setdefault(code, set()).add(weekday)

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
            days = self.weekdays.get(code, set())
            weekdays = tuple(d for d in WEEKDAYS if d in days)
            out.append(Blocker(base, detail, w / total, weekdays=weekdays))
        return tuple(out)
