"""One test per validation error: the exact field path and rule code a manager gets back."""

from __future__ import annotations

import copy

import pytest

from scheduler.rules import (
    RuleValidationError,
    parse_protocol,
    parse_protocol_bundle,
    parse_session_kind,
    protocol_to_dict,
    session_kind_to_dict,
)

from .helpers import KIND_DOCUMENTS, KINDS, SPEC_PROTOCOL

IV = KIND_DOCUMENTS["iv_infusion"]
SPRAY = KIND_DOCUMENTS["spray"]


def kind_errors(document) -> list[tuple[str, str]]:
    with pytest.raises(RuleValidationError) as caught:
        parse_session_kind(document)
    return [(e.path, e.rule) for e in caught.value.errors]


def protocol_errors(document, kinds=KINDS) -> list[tuple[str, str]]:
    with pytest.raises(RuleValidationError) as caught:
        parse_protocol(document, kinds)
    return [(e.path, e.rule) for e in caught.value.errors]


def edited(document, edit):
    changed = copy.deepcopy(document)
    edit(changed)
    return changed


def test_the_spec_examples_are_valid_and_round_trip():
    kind = parse_session_kind(IV)
    assert kind.duration_minutes == 85 and kind.dose_offsets() == (15,)
    assert parse_session_kind(session_kind_to_dict(kind)) == kind
    proto = parse_protocol(SPEC_PROTOCOL, KINDS)
    assert [p.name for p in proto.phases] == ["consult", "induction", "maintenance"]
    assert parse_protocol(protocol_to_dict(proto), KINDS) == proto


KIND_CASES = {
    "missing code": (lambda d: d.pop("code"), [("code", "required")]),
    "code not a slug": (lambda d: d.update(code="IV Infusion"), [("code", "format")]),
    "unknown field": (lambda d: d.update(colour="red"), [("colour", "unknown_field")]),
    "name wrong type": (lambda d: d.update(name=7), [("name", "type")]),
    "unknown route": (lambda d: d.update(route="rectal"), [("route", "route.unknown")]),
    "no segments": (lambda d: d.update(segments=[], staff=[]), [("segments", "segments.empty")]),
    "zero minutes": (
        lambda d: d["segments"][0].update(minutes=0), [("segments[0].minutes", "range")]
    ),
    "segment longer than a day": (
        lambda d: d["segments"][2].update(minutes=1441), [("segments[2].minutes", "range")]
    ),
    "minutes as text": (
        lambda d: d["segments"][0].update(minutes="15"), [("segments[0].minutes", "type")]
    ),
    "fractional minutes": (
        lambda d: d["segments"][0].update(minutes=15.5), [("segments[0].minutes", "type")]
    ),
    "session longer than a day": (
        lambda d: d["segments"][1].update(minutes=1400), [("segments", "duration.too_long")]
    ),
    "duplicate segment name": (
        lambda d: d["segments"][2].update(name="setup"),
        [
            ("segments[2].name", "segments.duplicate_name"),
            ("staff[0].load.recovery", "staff.load.unknown_segment"),
        ],
    ),
    "load value": (
        lambda d: d["staff"][0]["load"].update(dosing="half"),
        [("staff[0].load.dosing", "staff.load.value")],
    ),
    "load names a missing segment": (
        lambda d: d["staff"][0]["load"].update(infusion="shared"),
        [("staff[0].load.infusion", "staff.load.unknown_segment")],
    ),
    "empty load": (
        lambda d: d["staff"][0].update(load={}), [("staff[0].load", "staff.load.empty")]
    ),
    "staff without role": (lambda d: d["staff"][0].pop("role"), [("staff[0].role", "required")]),
    "features without a room": (
        lambda d: d.update(needs_room=False),
        [("room_features", "room_features.without_room")],
    ),
    "prescriber flag not boolean": (
        lambda d: d.update(prescriber_on_site="yes"), [("prescriber_on_site", "type")]
    ),
    "iv recovery too short": (
        lambda d: d["segments"][2].update(minutes=20),
        [("segments", "route.min_monitoring_minutes")],
    ),
    "dose route without a dose": (
        lambda d: d["segments"][1].pop("dose"), [("segments", "route.dose_segment_missing")]
    ),
    "route none with a dose": (
        lambda d: d.update(route="none"), [("segments[1].dose", "route.dose_segment_forbidden")]
    ),
}


@pytest.mark.parametrize("edit, expected", KIND_CASES.values(), ids=KIND_CASES.keys())
def test_session_kind_error(edit, expected):
    assert kind_errors(edited(IV, edit)) == expected


def test_intranasal_needs_two_hours_of_monitoring_and_a_prescriber_on_site():
    document = edited(SPRAY, lambda d: d["segments"][2].update(minutes=90))
    document["prescriber_on_site"] = False
    assert kind_errors(document) == [
        ("segments", "route.min_monitoring_minutes"),
        ("prescriber_on_site", "route.prescriber_on_site"),
    ]


def test_monitoring_counts_only_segments_after_the_last_dose():
    document = copy.deepcopy(SPRAY)
    document["segments"] = [
        {"name": "monitoring", "minutes": 150},
        {"name": "dosing", "minutes": 15, "dose": True},
    ]
    assert kind_errors(document) == [("segments", "route.min_monitoring_minutes")]


def test_a_body_that_is_not_an_object():
    assert kind_errors(["iv"]) == [("", "type")]
    assert protocol_errors("iv-depression") == [("", "type")]


def test_every_mistake_is_reported_at_once():
    def break_three_things(d):
        d["code"] = "Bad Code"
        d["segments"][0]["minutes"] = -5
        d["staff"][0]["load"]["dosing"] = "solo"

    assert kind_errors(edited(IV, break_three_things)) == [
        ("code", "format"),
        ("segments[0].minutes", "range"),
        ("staff[0].load.dosing", "staff.load.value"),
    ]


def set_in(i, **values):
    """An edit setting fields of phase ``i`` of a protocol document."""
    return lambda d: d["phases"][i].update(values)


def drop(i, key):
    return lambda d: d["phases"][i].pop(key)


PROTOCOL_CASES = {
    "code not a slug": (lambda d: d.update(code="IV depression!"), [("code", "format")]),
    "missing name": (lambda d: d.pop("name"), [("name", "required")]),
    "negative dose spacing": (
        lambda d: d.update(min_hours_between_doses=-1), [("min_hours_between_doses", "range")]
    ),
    "no phases": (lambda d: d.update(phases=[]), [("phases", "phases.empty")]),
    "unknown phase field": (
        set_in(1, colour="red"), [("phases[1].colour", "unknown_field")]
    ),
    "gap min above max": (
        set_in(1, gap_days={"min": 5, "target": 5, "max": 4}),
        [("phases[1].gap_days.min", "gap_days.order")],
    ),
    "gap target outside": (
        set_in(1, gap_days={"min": 1, "target": 6, "max": 4}),
        [("phases[1].gap_days.target", "gap_days.target")],
    ),
    "gap zero days": (
        set_in(1, gap_days={"min": 0, "max": 4}), [("phases[1].gap_days.min", "range")]
    ),
    "gap max missing": (
        set_in(1, gap_days={"min": 1}), [("phases[1].gap_days.max", "required")]
    ),
    "count and until_days": (
        set_in(1, until_days=90), [("phases[1].until_days", "phase.count_or_until_days")]
    ),
    "neither count nor until_days": (
        drop(0, "count"), [("phases[0]", "phase.count_or_until_days")]
    ),
    "count zero": (set_in(1, count=0), [("phases[1].count", "range")]),
    "count absurd": (set_in(1, count=400), [("phases[1].count", "range")]),
    "until_days zero": (
        lambda d: (d["phases"][2].pop("count"), d["phases"][2].update(until_days=0)),
        [("phases[2].until_days", "range")],
    ),
    "repeated phase without gap_days": (
        drop(2, "gap_days"), [("phases[2].gap_days", "gap_days.required")]
    ),
    "unknown session kind": (
        set_in(1, session_kind="laser"), [("phases[1].session_kind", "session_kind.unknown")]
    ),
    "unknown follow-up kind": (
        lambda d: d["phases"][1]["follow_up"].update(session_kind="yoga"),
        [("phases[1].follow_up.session_kind", "session_kind.unknown")],
    ),
    "duplicate phase name": (
        set_in(2, name="consult"), [("phases[2].name", "phase.duplicate")]
    ),
    "after an unknown phase": (
        lambda d: d["phases"][1]["after"].update(phase="intake"),
        [("phases[1].after.phase", "after.unknown_phase")],
    ),
    "after itself": (
        lambda d: d["phases"][1]["after"].update(phase="induction"),
        [("phases[1].after.phase", "after.self")],
    ),
    "after in a circle": (
        set_in(0, after={"phase": "maintenance", "min_days": 1}),
        [
            ("phases[0].after.phase", "after.cycle"),
            ("phases[1].after.phase", "after.cycle"),
            ("phases[2].after.phase", "after.cycle"),
        ],
    ),
    "after min above max": (
        lambda d: d["phases"][1]["after"].update(min_days=31),
        [("phases[1].after.min_days", "after.order")],
    ),
    "follow-up min above max": (
        lambda d: d["phases"][1]["follow_up"].update(min_hours=80),
        [("phases[1].follow_up.min_hours", "follow_up.order")],
    ),
    "follow-up negative hours": (
        lambda d: d["phases"][1]["follow_up"].update(min_hours=-1),
        [("phases[1].follow_up.min_hours", "range")],
    ),
    "within_days too short for count at gap min": (
        set_in(1, within_days=4), [("phases[1].within_days", "within_days.too_short")]
    ),
    "max_per_week absurd": (set_in(1, max_per_week=8), [("phases[1].max_per_week", "range")]),
    # gap max 4 puts sessions on days 0 and 4 of any sparsest week: at least 2 in 7 days.
    "max_per_week below what gap max forces": (
        set_in(1, max_per_week=1), [("phases[1].max_per_week", "max_per_week.gap_conflict")]
    ),
    # At most 2 a week with gaps of at most 4 days: 6 sessions need 17 days.
    "max_per_week and count do not fit within_days": (
        set_in(1, max_per_week=2, within_days=16),
        [("phases[1].max_per_week", "max_per_week.within_days")],
    ),
    # Mon–Wed only: a third session within 4 days of the second lands in the same week.
    "max_per_week and weekdays leave no way to place count": (
        lambda d: (
            d.update(min_hours_between_doses=None),
            d["phases"][1].update(count=3, weekdays=["mon", "tue", "wed"], max_per_week=2),
            d["phases"][1].pop("within_days"),
        ),
        [("phases[1].max_per_week", "max_per_week.weekdays")],
    ),
    "unknown weekday": (
        set_in(1, weekdays=["mon", "funday"]), [("phases[1].weekdays[1]", "weekdays.unknown")]
    ),
    "no weekdays": (set_in(1, weekdays=[]), [("phases[1].weekdays", "weekdays.empty")]),
    "weekdays cannot meet the gaps": (
        set_in(1, weekdays=["mon"]), [("phases[1].weekdays", "weekdays.gap_conflict")]
    ),
    # Mon/Wed/Fri 2 days apart at least: 6 sessions need 11 days.
    "weekdays and count do not fit within_days": (
        lambda d: (
            d["phases"][1].update(weekdays=["mon", "wed", "fri"], within_days=10),
            d["phases"][1].pop("max_per_week"),
        ),
        [("phases[1].weekdays", "weekdays.within_days")],
    ),
    "spacing rules that contradict each other together": (
        lambda d: (
            d.update(min_hours_between_doses=None),
            d["phases"][1].update(
                count=4, weekdays=["mon", "wed", "fri"], gap_days={"min": 1, "max": 3},
                max_per_week=3, within_days=3,
            ),
        ),
        [("phases[1]", "phase.unsatisfiable")],
    ),
    # Infusion (85 min) + 72 h + integration (60 min) cannot end before the next infusion,
    # at most 2 days later.
    "follow-up never fits before the next session": (
        lambda d: (
            d["phases"][1].update(gap_days={"min": 1, "target": 2, "max": 2}),
            d["phases"][1].pop("max_per_week"),
            d["phases"][1]["follow_up"].update(min_hours=72, max_hours=80),
        ),
        [("phases[1].follow_up.min_hours", "follow_up.no_fit")],
    ),
    "dose follow-up pushed past max_hours by dose spacing": (
        lambda d: d["phases"][1]["follow_up"].update(
            session_kind="shot", min_hours=1, max_hours=10
        ),
        [("phases[1].follow_up.max_hours", "follow_up.no_fit")],
    ),
    # 120 hours between doses means 5 days at least; gap max is 4.
    "dose spacing longer than gap max": (
        lambda d: d.update(min_hours_between_doses=120),
        [("phases[1].gap_days.max", "min_hours_between_doses.gap_conflict")],
    ),
    # 72 hours keeps doses 3 days apart: 6 infusions then need 15 days.
    "dose spacing makes count miss within_days": (
        lambda d: (d.update(min_hours_between_doses=72), d["phases"][1].pop("max_per_week"),
                   d["phases"][1].update(within_days=12)),
        [("phases[1]", "min_hours_between_doses.gap_conflict")],
    ),
    "intranasal spacing forces 3 doses in 7 days": (
        lambda d: (
            d.update(min_hours_between_doses=None),
            d["phases"][2].update(
                session_kind="spray", gap_days={"min": 1, "target": 2, "max": 3}
            ),
        ),
        [("phases[2].gap_days.max", "route.max_doses_per_7_days")],
    ),
    # Twice a week at most: 8 sprays need more than 20 days.
    "intranasal weekly cap and count do not fit within_days": (
        lambda d: d["phases"][2].update(
            session_kind="spray", count=8, gap_days={"min": 2, "target": 3, "max": 5},
            within_days=20,
        ),
        [("phases[2].within_days", "route.max_doses_per_7_days")],
    ),
}


@pytest.mark.parametrize("edit, expected", PROTOCOL_CASES.values(), ids=PROTOCOL_CASES.keys())
def test_protocol_error(edit, expected):
    assert protocol_errors(edited(SPEC_PROTOCOL, edit)) == expected


def test_protocol_errors_are_all_collected_with_words():
    def break_several(d):
        d["phases"][0]["count"] = "one"
        d["phases"][1]["weekdays"] = ["someday"]
        d["phases"][2]["after"]["phase"] = "nowhere"

    with pytest.raises(RuleValidationError) as caught:
        parse_protocol(edited(SPEC_PROTOCOL, break_several), KINDS)
    errors = caught.value.errors
    assert [(e.path, e.rule) for e in errors] == [
        ("phases[0].count", "type"),
        ("phases[1].weekdays[0]", "weekdays.unknown"),
        ("phases[2].after.phase", "after.unknown_phase"),
    ]
    assert all(e.message for e in errors)
    assert caught.value.to_dict()["errors"][2] == {
        "path": "phases[2].after.phase",
        "message": "there is no phase named 'nowhere'",
        "rule": "after.unknown_phase",
    }


def test_dose_spacing_below_what_the_gap_implies_is_fine():
    document = edited(SPEC_PROTOCOL, lambda d: d.update(min_hours_between_doses=1))
    assert parse_protocol(document, KINDS).min_hours_between_doses == 1


def test_after_may_name_a_later_phase_and_placement_order_follows_it():
    document = copy.deepcopy(SPEC_PROTOCOL)
    document["phases"][0]["after"] = {"phase": "prep", "min_days": 0}
    document["phases"].append({"name": "prep", "session_kind": "consult", "count": 1})
    proto = parse_protocol(document, KINDS)
    order = [p.name for p in proto.placement_order()]
    assert order == ["prep", "consult", "induction", "maintenance"]


def test_a_weekly_cap_above_the_route_limit_is_refused():
    document = edited(SPEC_PROTOCOL, set_in(1, session_kind="spray"))
    document["phases"][1].pop("follow_up")
    assert protocol_errors(document) == [("phases[1].max_per_week", "route.max_doses_per_7_days")]
    document["phases"][1]["max_per_week"] = 2
    assert parse_protocol(document, KINDS).phases[1].max_per_week == 2


def test_a_bundle_parses_its_own_kinds_and_may_use_known_ones():
    document = {**copy.deepcopy(SPEC_PROTOCOL), "session_kinds": [IV]}
    known = {code: KINDS[code] for code in ("consult", "integration")}
    proto, bundled = parse_protocol_bundle(document, known)
    assert list(bundled) == ["iv_infusion"] and proto.phases[1].session_kind == "iv_infusion"


def test_a_bundle_reports_duplicate_and_broken_kinds_once():
    broken = edited(IV, lambda d: d["segments"][2].update(minutes=5))
    document = {**copy.deepcopy(SPEC_PROTOCOL), "session_kinds": [IV, IV, broken]}
    with pytest.raises(RuleValidationError) as caught:
        parse_protocol_bundle(document, KINDS)
    assert [(e.path, e.rule) for e in caught.value.errors] == [
        ("session_kinds[1].code", "session_kind.duplicate"),
        ("session_kinds[2].segments", "route.min_monitoring_minutes"),
    ]
