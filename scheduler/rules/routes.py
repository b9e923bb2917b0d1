"""Administration routes and their clinical policy, as data in one place.

Validation (session kinds, protocols) and the evaluator (concrete sessions) both read these
values; nothing else should hard-code a monitoring time or a certification.
"""

from __future__ import annotations

from .model import Route, SessionKind

ESKETAMINE_REMS = "esketamine_rems"

ROUTES: dict[str, Route] = {
    route.code: route
    for route in (
        # IV ketamine: recovery after the infusion before the patient may leave.
        Route("iv", is_dose=True, min_monitoring_minutes=30),
        Route("im", is_dose=True, min_monitoring_minutes=30),
        # Spravato label and REMS: certified setting, at least 2 hours of observation after the
        # dose (no discharge sooner); induction is at most twice a week; the patient enrolled in
        # the REMS before treatment; a Patient Monitoring Form within 7 days of each session.
        Route(
            "intranasal",
            is_dose=True,
            min_monitoring_minutes=120,
            required_certification=ESKETAMINE_REMS,
            requires_prescriber_on_site=True,
            max_doses_per_7_days=2,
            patient_enrollment_required=True,
            discharge_after_monitoring=True,
            monitoring_form_due_days=7,
        ),
        Route("sublingual", is_dose=True, min_monitoring_minutes=30),
        Route("oral", is_dose=True, min_monitoring_minutes=30),
        # Consults, preparation and integration therapy: no drug is given.
        Route("none", is_dose=False),
    )
}


def gives_dose(kind: SessionKind) -> bool:
    """Whether sessions of ``kind`` count as doses (dose spacing and dose caps apply)."""
    return ROUTES[kind.route].is_dose and kind.has_dose
