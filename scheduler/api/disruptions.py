from __future__ import annotations

from ..services import disruptions
from ..services.access import CONFIGURE
from .common import PAGINATION_HEADER_DOC, make_blueprint, page_headers, principal
from .schemas.disruptions import DisruptionIn, DisruptionOut, DisruptionQuery

blp = make_blueprint("disruptions", "Absences and closures: proposed with their re-plan, "
                                    "applied all or nothing (SPEC 8)", writes=CONFIGURE)

FIELDS = ("id", "status", "kind", "staff_id", "room_id", "clinic_id", "starts_at", "ends_at",
          "reason", "allow_clinic_ids", "clinic_ids", "hold_expires_at", "summary",
          "created_at", "resolved_at")


def _shown(disruption) -> dict:
    """The proposal as this key may see it: changes at its own clinics only (summary too)."""
    who = principal()
    changes = disruptions.visible_changes(who, disruption)
    out = {name: getattr(disruption, name) for name in FIELDS}
    out["changes"] = changes
    if len(changes) != len(disruption.changes or []):
        out["summary"] = disruptions.summarise(changes, (disruption.summary or {}).get("solver"))
    return out


@blp.route("/disruptions", methods=["POST"])
@blp.arguments(DisruptionIn)
@blp.response(201, DisruptionOut)
@blp.alt_response(403, description="the disruption touches a clinic this key may not manage")
def propose(data):
    return _shown(disruptions.propose(principal(), data))


@blp.route("/disruptions", methods=["GET"])
@blp.arguments(DisruptionQuery, location="query")
@blp.response(200, DisruptionOut(many=True), headers=PAGINATION_HEADER_DOC)
def list_disruptions(args):
    page = disruptions.list_disruptions(principal(), **args)
    return [_shown(d) for d in page.items], page_headers(page)


@blp.route("/disruptions/<int:disruption_id>", methods=["GET"])
@blp.response(200, DisruptionOut)
def get_disruption(disruption_id):
    return _shown(disruptions.get_disruption(principal(), disruption_id))


@blp.route("/disruptions/<int:disruption_id>/apply", methods=["POST"])
@blp.response(200, DisruptionOut)
@blp.alt_response(409, description="expired or stale: nothing was changed")
def apply(disruption_id):
    return _shown(disruptions.apply(principal(), disruption_id))


@blp.route("/disruptions/<int:disruption_id>/discard", methods=["POST"])
@blp.response(200, DisruptionOut)
def discard(disruption_id):
    return _shown(disruptions.discard(principal(), disruption_id))
