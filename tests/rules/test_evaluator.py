"""One focused test per evaluator rule: given these sessions, exactly this is reported."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from scheduler.rules import RULES, PlacedSession, evaluate

from .helpers import KINDS, NEW_YORK, local, protocol, series, session

REMS = frozenset({"esketamine_rems"})


def one_phase(kind: str = "iv_infusion", min_hours_between_doses=None, **rules):
    """A protocol with a single phase ``induction`` carrying ``rules``."""
    phase = {"name": "induction", "session_kind": kind, "count": 4, **rules}
    return protocol({
        "code": "test", "name": "Test", "min_hours_between_doses": min_hours_between_doses,
        "phases": [phase],
    })


def with_consult(**induction):
    return protocol({
        "code": "test", "name": "Test",
        "phases": [
            {"name": "consult", "session_kind": "consult", "count": 1},
            {"name": "induction", "session_kind": "iv_infusion", "count": 2,
             "gap_days": {"min": 1, "max": 7}, **induction},
        ],
    })


def found(proto, sessions, **options):
    options.setdefault("tz", NEW_YORK)
    violations = evaluate(proto, KINDS, sessions, **options)
    assert all(v.rule in RULES for v in violations)
    return [(v.rule, v.sessions, v.amount) for v in violations]


DAILY = ["2026-12-01 10:00", "2026-12-02 10:00", "2026-12-03 10:00", "2026-12-04 10:00"]


def test_clean_plan_has_no_violations():
    proto = one_phase(gap_days={"min": 1, "max": 2}, within_days=3, max_per_week=4)
    assert found(proto, series("induction", "iv_infusion", DAILY)) == []


def test_gap_days_max():
    proto = one_phase(gap_days={"min": 1, "target": 2, "max": 4})
    plan = series("induction", "iv_infusion", [
        "2026-12-01 10:00", "2026-12-03 10:00", "2026-12-08 10:00", "2026-12-10 10:00",
    ])
    violations = evaluate(proto, KINDS, plan, tz=NEW_YORK)
    assert [(v.rule, v.sessions, v.amount, v.phase) for v in violations] == [
        ("gap_days.max", ("induction#2", "induction#3"), 1, "induction")
    ]
    assert violations[0].message == (
        "induction #2 → induction #3: 5 days apart, gap_days.max is 4 (1 day too many)"
    )


def test_gap_days_min():
    proto = one_phase(gap_days={"min": 2, "max": 4})
    plan = series("induction", "iv_infusion", [
        "2026-12-01 10:00", "2026-12-03 10:00", "2026-12-04 08:00", "2026-12-06 10:00",
    ])
    assert found(proto, plan) == [("gap_days.min", ("induction#2", "induction#3"), 1)]


def test_gap_days_counts_local_dates_not_elapsed_hours():
    # 23:00 to 08:00 next morning is 9 hours but one calendar day.
    proto = one_phase(count=2, gap_days={"min": 1, "max": 1})
    plan = series("induction", "iv_infusion", ["2026-12-01 22:00", "2026-12-02 08:00"])
    assert found(proto, plan) == []


def test_within_days():
    proto = one_phase(gap_days={"min": 1, "max": 7}, within_days=10)
    plan = series("induction", "iv_infusion", [
        "2026-12-01 10:00", "2026-12-05 10:00", "2026-12-09 10:00", "2026-12-13 10:00",
    ])
    assert found(proto, plan) == [("within_days", ("induction#1", "induction#4"), 2)]


def test_max_per_week():
    proto = one_phase(count=5, gap_days={"min": 1, "max": 10}, max_per_week=3)
    plan = series("induction", "iv_infusion", [*DAILY, "2026-12-14 10:00"])
    assert found(proto, plan) == [
        ("max_per_week", ("induction#1", "induction#2", "induction#3", "induction#4"), 1)
    ]


def test_max_per_week_reports_a_crowded_stretch_once():
    proto = one_phase(count=5, gap_days={"min": 1, "max": 10}, max_per_week=3)
    plan = series("induction", "iv_infusion", [*DAILY, "2026-12-05 10:00"])
    assert found(proto, plan) == [
        ("max_per_week", tuple(f"induction#{n}" for n in range(1, 6)), 2)
    ]


def test_weekdays():
    proto = one_phase(count=3, gap_days={"min": 1, "max": 3}, weekdays=["mon", "wed", "fri"])
    plan = series("induction", "iv_infusion", [
        "2026-11-30 10:00", "2026-12-02 10:00", "2026-12-05 10:00",  # Mon, Wed, Sat
    ])
    violations = evaluate(proto, KINDS, plan, tz=NEW_YORK)
    assert [(v.rule, v.sessions) for v in violations] == [("weekdays", ("induction#3",))]
    assert "sat" in violations[0].message


def test_after_min_days():
    proto = with_consult(after={"phase": "consult", "min_days": 1, "max_days": 10})
    plan = [
        *series("consult", "consult", ["2026-12-01 09:00"]),
        *series("induction", "iv_infusion", ["2026-12-01 11:00", "2026-12-03 10:00"]),
    ]
    assert found(proto, plan) == [("after.min_days", ("consult#1", "induction#1"), 1)]


def test_after_max_days():
    proto = with_consult(after={"phase": "consult", "min_days": 1, "max_days": 10})
    plan = [
        *series("consult", "consult", ["2026-12-01 09:00"]),
        *series("induction", "iv_infusion", ["2026-12-20 10:00", "2026-12-22 10:00"]),
    ]
    assert found(proto, plan) == [("after.max_days", ("consult#1", "induction#1"), 9)]


FOLLOWED = {
    "count": 2, "gap_days": {"min": 1, "max": 7},
    "follow_up": {"session_kind": "integration", "min_hours": 24, "max_hours": 72},
}


def infusions_with_follow_ups(first_follow_up: str, second_follow_up: str):
    # Infusions end at 11:25.
    plan = series("induction", "iv_infusion", ["2026-12-01 10:00", "2026-12-05 10:00"])
    return [
        *plan,
        session("fu1", "induction", "integration", first_follow_up, follow_up_of="induction#1"),
        session("fu2", "induction", "integration", second_follow_up, follow_up_of="induction#2"),
    ]


def test_follow_up_min_hours():
    plan = infusions_with_follow_ups("2026-12-02 09:25", "2026-12-06 12:00")
    assert found(one_phase(**FOLLOWED), plan) == [
        ("follow_up.min_hours", ("induction#1", "fu1"), 2)
    ]


def test_follow_up_max_hours():
    plan = infusions_with_follow_ups("2026-12-02 12:00", "2026-12-08 14:25")
    assert found(one_phase(**FOLLOWED), plan) == [
        ("follow_up.max_hours", ("induction#2", "fu2"), 3)
    ]


def test_follow_up_missing_only_in_a_complete_plan():
    plan = infusions_with_follow_ups("2026-12-02 12:00", "2026-12-06 12:00")[:-1]
    assert found(one_phase(**FOLLOWED), plan) == [("follow_up.missing", ("induction#2",), None)]
    assert found(one_phase(**FOLLOWED), plan, complete=False) == []


def test_follow_up_unexpected():
    plan = [
        *infusions_with_follow_ups("2026-12-02 12:00", "2026-12-06 12:00"),
        session("fu3", "induction", "integration", "2026-12-03 12:00", follow_up_of="induction#1"),
        session("stray", "induction", "integration", "2026-12-10 12:00", follow_up_of="nobody"),
    ]
    assert found(one_phase(**FOLLOWED), plan) == [
        ("follow_up.unexpected", ("induction#1", "fu3"), None),
        ("follow_up.unexpected", ("stray",), None),
    ]


def test_min_hours_between_doses_counts_dose_segments_across_phases():
    proto = protocol({
        "code": "test", "name": "Test", "min_hours_between_doses": 48,
        "phases": [
            {"name": "induction", "session_kind": "iv_infusion", "count": 1},
            {"name": "boost", "session_kind": "shot", "count": 1},
            {"name": "consult", "session_kind": "consult", "count": 1},
        ],
    })
    plan = [
        *series("induction", "iv_infusion", ["2026-12-01 10:00"]),  # dose at 10:15
        *series("consult", "consult", ["2026-12-02 10:00"]),  # not a dose: ignored
        *series("boost", "shot", ["2026-12-03 09:15"]),  # dose at 09:15, 47 h later
    ]
    violations = evaluate(proto, KINDS, plan, tz=NEW_YORK)
    assert [(v.rule, v.sessions, v.amount) for v in violations] == [
        ("min_hours_between_doses", ("induction#1", "boost#1"), 1)
    ]
    assert "47 hours between doses" in violations[0].message


def test_count_too_few_only_in_a_complete_plan():
    proto = one_phase(gap_days={"min": 1, "max": 2})
    plan = series("induction", "iv_infusion", DAILY[:3])
    assert found(proto, plan) == [
        ("count", ("induction#1", "induction#2", "induction#3"), 1)
    ]
    assert found(proto, plan, complete=False) == []


def test_count_too_many_even_in_a_partial_plan():
    proto = one_phase(count=2, gap_days={"min": 1, "max": 2})
    plan = series("induction", "iv_infusion", DAILY[:3])
    assert found(proto, plan, complete=False) == [("count", ("induction#3",), 1)]


def test_until_days():
    proto = one_phase(count=None, until_days=20, gap_days={"min": 7, "max": 14})
    plan = series("induction", "iv_infusion", [
        "2026-12-01 10:00", "2026-12-15 10:00", "2026-12-29 10:00",
    ])
    assert found(proto, plan) == [("until_days", ("induction#3",), 8)]


def test_open_ended_phase_must_reach_the_horizon():
    proto = one_phase(count=None, until_days=365, gap_days={"min": 7, "max": 14})
    plan = series("induction", "iv_infusion", ["2026-12-01 10:00", "2026-12-15 10:00"])
    # Next session due by 2026-12-29, inside a horizon running to 2027-01-15.
    assert found(proto, plan, horizon_end=date(2027, 1, 15)) == [
        ("gap_days.max", ("induction#2",), 17)
    ]
    assert found(proto, plan, horizon_end=date(2026, 12, 29)) == []
    assert found(proto, plan, horizon_end=date(2027, 1, 15), complete=False) == []


def test_open_ended_phase_may_stop_once_it_reached_until_days():
    proto = one_phase(count=None, until_days=20, gap_days={"min": 7, "max": 14})
    plan = series("induction", "iv_infusion", ["2026-12-01 10:00", "2026-12-15 10:00"])
    assert found(proto, plan, horizon_end=date(2027, 3, 1)) == []


def test_route_max_doses_per_7_days():
    proto = one_phase(kind="spray", count=3, gap_days={"min": 1, "max": 7})
    plan = series("induction", "spray", [
        "2026-12-01 10:00", "2026-12-03 10:00", "2026-12-05 10:00",
    ])
    assert found(proto, plan, clinic_certifications=REMS) == [
        ("route.max_doses_per_7_days", ("induction#1", "induction#2", "induction#3"), 1)
    ]


def test_route_required_certification():
    proto = one_phase(kind="spray", count=2, gap_days={"min": 3, "max": 7})
    plan = series("induction", "spray", ["2026-12-01 10:00", "2026-12-04 10:00"])
    assert found(proto, plan, clinic_certifications=frozenset({"other"})) == [
        ("route.required_certification", ("induction#1",), None),
        ("route.required_certification", ("induction#2",), None),
    ]
    assert found(proto, plan, clinic_certifications=REMS) == []


def test_session_kind_unknown_or_not_the_phases():
    proto = one_phase(count=2, gap_days={"min": 1, "max": 7})
    plan = [
        session("a", "induction", "iv_infusion", "2026-12-01 10:00"),
        session("b", "induction", "consult", "2026-12-03 10:00"),
    ]
    unknown = PlacedSession(
        "c", "induction", "laser", local("2026-12-05 10:00"), local("2026-12-05 11:00")
    )
    assert found(proto, [*plan, unknown], complete=False) == [
        ("session_kind", ("b",), None),
        ("session_kind", ("c",), None),
        ("count", ("c",), 1),
    ]


def test_phase_unknown():
    proto = one_phase(count=1)
    plan = [
        session("a", "induction", "iv_infusion", "2026-12-01 10:00"),
        session("b", "aftercare", "consult", "2026-12-03 10:00"),
    ]
    assert found(proto, plan) == [("phase", ("b",), None)]


def test_duration():
    proto = one_phase(count=1)
    plan = [session("a", "induction", "iv_infusion", "2026-12-01 10:00", minutes=75)]
    violations = evaluate(proto, KINDS, plan, tz=NEW_YORK)
    assert [(v.rule, v.sessions, v.amount) for v in violations] == [("duration", ("a",), 10)]
    assert "75 minutes" in violations[0].message


def test_overlap():
    proto = with_consult()
    plan = [
        *series("consult", "consult", ["2026-12-01 09:45"]),  # until 10:15
        *series("induction", "iv_infusion", ["2026-12-01 10:00", "2026-12-03 10:00"]),
    ]
    assert found(proto, plan) == [("overlap", ("consult#1", "induction#1"), 15)]


def test_every_violation_is_reported_earliest_first():
    proto = one_phase(gap_days={"min": 2, "max": 3}, weekdays=["mon", "tue", "wed", "thu", "fri"])
    plan = series("induction", "iv_infusion", [
        "2026-12-01 10:00", "2026-12-02 10:00", "2026-12-05 10:00", "2026-12-14 10:00",
    ])
    assert found(proto, plan) == [
        ("gap_days.min", ("induction#1", "induction#2"), 1),
        ("weekdays", ("induction#3",), None),
        ("gap_days.max", ("induction#3", "induction#4"), 6),
    ]


def test_naive_datetimes_and_duplicate_keys_are_programming_errors():
    proto = one_phase(count=1)
    aware = session("a", "induction", "iv_infusion", "2026-12-01 10:00")
    naive = PlacedSession("a", "induction", "iv_infusion", datetime(2026, 12, 1, 10), aware.end)
    with pytest.raises(ValueError, match="timezone-aware"):
        evaluate(proto, KINDS, [naive], tz=NEW_YORK)
    twice = session("a", "induction", "iv_infusion", "2026-12-01 10:00")
    with pytest.raises(ValueError, match="share the key"):
        evaluate(proto, KINDS, [twice, twice], tz=NEW_YORK)


# --- daylight saving time (America/New_York: back on 2026-11-01, forward on 2027-03-14) ---


def test_dst_fall_back_gap_uses_local_dates_and_spacing_real_hours():
    # 19:30 EDT (23:30 UTC on the 31st) → 19:30 EST next day (00:30 UTC on 2 Nov): one local
    # day apart though two UTC dates apart, and 25 real hours between the doses.
    proto = one_phase(count=2, gap_days={"min": 1, "max": 1}, min_hours_between_doses=25.5)
    plan = series("induction", "iv_infusion", ["2026-10-31 19:30", "2026-11-01 19:30"])
    assert found(proto, plan) == [
        ("min_hours_between_doses", ("induction#1", "induction#2"), 0.5)
    ]


def test_dst_spring_forward_a_day_apart_is_23_hours():
    proto = one_phase(count=2, gap_days={"min": 1, "max": 1}, min_hours_between_doses=24)
    plan = series("induction", "iv_infusion", ["2027-03-13 10:00", "2027-03-14 10:00"])
    assert found(proto, plan) == [
        ("min_hours_between_doses", ("induction#1", "induction#2"), 1)
    ]
    # A session that really lasts 85 minutes across the jump has the right duration.
    across = [session("a", "induction", "iv_infusion", "2027-03-14 01:30")]
    assert across[0].end == local("2027-03-14 03:55")
    assert found(one_phase(count=1), across) == []


def test_dst_follow_up_hours_are_real_hours():
    # The infusion ends at 01:25 EDT (the first 01:25); 01:25 EST the next day is 25 real hours
    # later although the wall clock moved 24.
    proto = one_phase(count=1, follow_up={
        "session_kind": "integration", "min_hours": 24, "max_hours": 24.5,
    })
    plan = [
        session("a", "induction", "iv_infusion", "2026-11-01 00:00"),
        session("f", "induction", "integration", "2026-11-02 01:25", follow_up_of="a"),
    ]
    assert found(proto, plan) == [("follow_up.max_hours", ("a", "f"), 0.5)]
