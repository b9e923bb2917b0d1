from __future__ import annotations

from ..services import practice
from ..services.access import CONFIGURE
from .common import PAGINATION_HEADER_DOC, make_blueprint, page_headers, principal
from .schemas.practice import StaffIn, StaffOut, StaffPatch, StaffQuery, TimeOffIn, TimeOffOut

blp = make_blueprint("staff", "Staff members, their weekly shifts and time off",
                     writes=CONFIGURE)


@blp.route("/staff", methods=["POST"])
@blp.arguments(StaffIn)
@blp.response(201, StaffOut)
def create_staff(data):
    who = principal()
    return practice.staff_view(who, practice.create_staff(who, data))


@blp.route("/staff", methods=["GET"])
@blp.arguments(StaffQuery, location="query")
@blp.response(200, StaffOut(many=True), headers=PAGINATION_HEADER_DOC)
def list_staff(args):
    who = principal()
    page = practice.list_staff(who, args["page"], args["page_size"],
                               clinic_id=args.get("clinic_id"), role=args.get("role"))
    return [practice.staff_view(who, m) for m in page.items], page_headers(page)


@blp.route("/staff/<int:staff_id>", methods=["GET"])
@blp.response(200, StaffOut)
def get_staff(staff_id):
    who = principal()
    return practice.staff_view(who, practice.get_staff(who, staff_id))


@blp.route("/staff/<int:staff_id>", methods=["PATCH"])
@blp.arguments(StaffPatch)
@blp.response(200, StaffOut)
def update_staff(data, staff_id):
    who = principal()
    return practice.staff_view(who, practice.update_staff(who, staff_id, data))


@blp.route("/staff/<int:staff_id>", methods=["DELETE"])
@blp.response(204)
def delete_staff(staff_id):
    practice.delete_staff(principal(), staff_id)


@blp.route("/staff/<int:staff_id>/time-off", methods=["POST"])
@blp.arguments(TimeOffIn)
@blp.response(201, TimeOffOut)
def add_time_off(data, staff_id):
    return practice.add_time_off(principal(), staff_id, data)
