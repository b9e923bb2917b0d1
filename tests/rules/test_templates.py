"""The built-in templates load, validate, round-trip, and a plan that follows them is clean."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

import scheduler.rules
from scheduler.rules import (
    RuleValidationError,
    UnknownTemplateError,
    evaluate,
    list_templates,
    load_template,
    parse_protocol,
    parse_session_kind,
    protocol_to_dict,
    session_kind_to_dict,
    template_codes,
    template_document,
)

from .helpers import NEW_YORK, series, session

CODES = ["esketamine-label", "im-series", "iv-chronic-pain", "iv-depression", "kap"]
REMS = frozenset({"esketamine_rems"})


def test_every_template_file_ships_next_to_the_module():
    folder = Path(scheduler.rules.__file__).parent / "templates"
    assert sorted(p.stem for p in folder.glob("*.json")) == CODES
    assert template_codes() == CODES


@pytest.mark.parametrize("code", CODES)
def test_template_loads_validates_and_round_trips(code):
    protocol, kinds, metadata = load_template(code)
    assert protocol.code == code == metadata["code"]
    assert metadata["session_kinds"] == list(kinds)
    assert {p.session_kind for p in protocol.phases} <= set(kinds)
    assert len(protocol.source) > 40 and protocol.source == metadata["source"]
    assert parse_protocol(protocol_to_dict(protocol), kinds) == protocol
    for kind in kinds.values():
        assert parse_session_kind(session_kind_to_dict(kind)) == kind


def test_session_kind_codes_mean_the_same_in_every_template():
    seen = {}
    for code in CODES:
        for kind in load_template(code)[1].values():
            assert seen.setdefault(kind.code, kind) == kind, kind.code
    assert set(seen) == {
        "consult", "iv_infusion", "esketamine_dose", "iv_pain_infusion", "im_injection",
        "integration", "kap_preparation", "kap_dosing",
    }


def test_list_templates_names_each_source():
    listed = {t["code"]: t for t in list_templates()}
    assert sorted(listed) == CODES
    assert "FDA" in listed["esketamine-label"]["source"]
    assert "REMS" in listed["esketamine-label"]["source"]
    assert "ASRA" in listed["iv-chronic-pain"]["source"]
    assert "Sanacora" in listed["iv-depression"]["source"]
    assert "common practice" in listed["kap"]["source"].lower()
    assert "common practice" in listed["im-series"]["source"].lower()


def test_template_figures_match_the_spec():
    _, kinds, _ = load_template("iv-depression")
    infusion = kinds["iv_infusion"]
    assert [(s.name, s.minutes, s.dose) for s in infusion.segments] == [
        ("setup", 15, False), ("dosing", 40, True), ("recovery", 30, False),
    ]
    assert infusion.prescriber_on_site and {"iv_pump", "vitals_monitor"} <= infusion.room_features
    assert dict(infusion.staff[0].load) == {
        "setup": "exclusive", "dosing": "shared", "recovery": "shared",
    }
    esketamine = load_template("esketamine-label")[1]["esketamine_dose"]
    assert esketamine.route == "intranasal" and esketamine.minutes_after_dose >= 120
    assert load_template("im-series")[1]["im_injection"].minutes_after_dose >= 60
    pain = load_template("iv-chronic-pain")[1]["iv_pain_infusion"]
    assert [s.minutes for s in pain.segments if s.dose] == [240]


def plan_for(code, kinds):
    def run(phase, kind, starts):
        return series(phase, kind, starts, kinds=kinds)

    if code == "iv-depression":
        return [
            *run("consult", "consult", ["2026-12-01 09:00"]),
            *run("induction", "iv_infusion", [
                "2026-12-03 10:00", "2026-12-05 10:00", "2026-12-08 10:00",
                "2026-12-10 10:00", "2026-12-12 10:00", "2026-12-15 10:00",
            ]),
            *run("maintenance", "iv_infusion", [
                "2027-01-12 10:00", "2027-02-09 10:00", "2027-03-09 10:00", "2027-04-06 10:00",
            ]),
        ]
    if code == "esketamine-label":
        return [
            *run("consult", "consult", ["2026-12-01 09:00"]),
            *run("induction", "esketamine_dose", [
                "2026-12-03 10:00", "2026-12-07 10:00", "2026-12-10 10:00", "2026-12-14 10:00",
                "2026-12-17 10:00", "2026-12-21 10:00", "2026-12-24 10:00", "2026-12-28 10:00",
            ]),
            *run("weekly", "esketamine_dose", [
                "2027-01-04 10:00", "2027-01-11 10:00", "2027-01-18 10:00", "2027-01-25 10:00",
            ]),
            *run("maintenance", "esketamine_dose", [
                "2027-02-08 10:00", "2027-02-22 10:00", "2027-03-08 10:00", "2027-03-22 10:00",
            ]),
        ]
    if code == "iv-chronic-pain":
        return [
            *run("consult", "consult", ["2026-12-01 09:00"]),
            *run("series", "iv_pain_infusion", [f"2026-12-{d:02} 08:00" for d in range(7, 12)]),
            *run("boosters", "iv_pain_infusion", [
                "2027-01-18 08:00", "2027-03-01 08:00", "2027-04-12 08:00",
            ]),
        ]
    if code == "im-series":
        return [
            *run("consult", "consult", ["2026-12-01 09:00"]),
            *run("series", "im_injection", [
                "2026-12-03 10:00", "2026-12-05 10:00", "2026-12-08 10:00",
                "2026-12-10 10:00", "2026-12-12 10:00", "2026-12-15 10:00",
            ]),
        ]
    assert code == "kap"
    dosing = run("dosing", "kap_dosing", [
        "2026-12-03 10:00", "2026-12-10 10:00", "2026-12-17 10:00",
        "2026-12-24 10:00", "2026-12-31 10:00", "2027-01-07 10:00",
    ])
    integrations = [
        session(
            f"integration#{n}", "dosing", "integration",
            f"{d.start.date() + timedelta(days=2)} 12:00", follow_up_of=d.key, kinds=kinds,
        )
        for n, d in enumerate(dosing, 1)
    ]
    return [
        *run("consult", "consult", ["2026-12-01 09:00"]),
        *run("preparation", "kap_preparation", ["2026-12-01 14:00"]),
        *dosing,
        *integrations,
    ]


@pytest.mark.parametrize("code", CODES)
def test_a_plan_following_the_template_evaluates_clean(code):
    protocol, kinds, _ = load_template(code)
    plan = plan_for(code, kinds)
    violations = evaluate(
        protocol, kinds, plan, tz=NEW_YORK, clinic_certifications=REMS,
        horizon_end=date(2027, 3, 30),
    )
    assert violations == []


def test_esketamine_needs_a_rems_certified_clinic():
    protocol, kinds, _ = load_template("esketamine-label")
    violations = evaluate(protocol, kinds, plan_for("esketamine-label", kinds), tz=NEW_YORK)
    assert {v.rule for v in violations} == {"route.required_certification"}
    assert len(violations) == 16


def test_chronic_pain_series_means_monday_to_friday_of_one_week():
    protocol, kinds, _ = load_template("iv-chronic-pain")
    plan = [
        *series("consult", "consult", ["2026-12-01 09:00"], kinds=kinds),
        # Wednesday to Tuesday: consecutive weekdays, but across a weekend.
        *series("series", "iv_pain_infusion", [
            "2026-12-09 08:00", "2026-12-10 08:00", "2026-12-11 08:00",
            "2026-12-14 08:00", "2026-12-15 08:00",
        ], kinds=kinds),
    ]
    violations = evaluate(protocol, kinds, plan, tz=NEW_YORK, complete=False)
    assert [(v.rule, v.sessions, v.amount) for v in violations] == [
        ("within_days", ("series#1", "series#5"), 2)
    ]


def test_overrides_patch_a_phase_by_name_and_leave_the_template_alone():
    protocol, _, _ = load_template(
        "iv-depression",
        {"min_hours_between_doses": None, "phases": {"induction": {"count": 8, "within_days": 28}}},
    )
    assert protocol.phase("induction").count == 8
    assert protocol.phase("induction").within_days == 28
    assert protocol.min_hours_between_doses is None
    assert load_template("iv-depression")[0].phase("induction").count == 6
    assert template_document("iv-depression")["phases"][1]["count"] == 6


def test_overrides_can_replace_a_session_kind_field_and_are_validated():
    short_recovery = {"session_kinds": {"iv_infusion": {"segments": [
        {"name": "setup", "minutes": 15}, {"name": "dosing", "minutes": 40, "dose": True},
        {"name": "recovery", "minutes": 10},
    ]}}}
    with pytest.raises(RuleValidationError) as caught:
        load_template("iv-depression", short_recovery)
    assert [(e.path, e.rule) for e in caught.value.errors] == [
        ("session_kinds[1].segments", "route.min_monitoring_minutes")
    ]


@pytest.mark.parametrize("overrides, expected", [
    ({"phases": {"booster": {"count": 3}}}, [("phases.booster", "override.unknown_phase")]),
    ({"session_kinds": {"laser": {"name": "x"}}}, [
        ("session_kinds.laser", "override.unknown_session_kind"),
    ]),
    ({"phases": {"maintenance": None}, "code": "IV"}, [("code", "format")]),
    ({"phases": {"induction": {"count": 0}}}, [("phases[1].count", "range")]),
    ({"phases": {"induction": {"gap_days": {"min": 5}}}}, [
        ("phases[1].gap_days.min", "gap_days.order"),
    ]),
])
def test_bad_overrides_are_reported_by_path(overrides, expected):
    with pytest.raises(RuleValidationError) as caught:
        load_template("iv-depression", overrides)
    assert [(e.path, e.rule) for e in caught.value.errors] == expected


def test_unknown_template():
    with pytest.raises(UnknownTemplateError):
        load_template("homeopathy")
