from __future__ import annotations

from ..services import practice
from ..services.access import CONFIGURE
from .common import PAGINATION_HEADER_DOC, make_blueprint, page_headers, principal
from .guard import needs
from .schemas.common import PageArgs
from .schemas.practice import ClinicIn, ClinicOut, ClinicPatch, RoomIn, RoomOut

blp = make_blueprint("clinics", "Clinics and their rooms", writes=CONFIGURE)


@blp.route("/clinics", methods=["POST"])
@needs(CONFIGURE, practice_wide=True)  # a clinic-scoped key could never see the clinic it made
@blp.arguments(ClinicIn)
@blp.response(201, ClinicOut)
def create_clinic(data):
    return practice.create_clinic(principal(), data)


@blp.route("/clinics", methods=["GET"])
@blp.arguments(PageArgs, location="query")
@blp.response(200, ClinicOut(many=True), headers=PAGINATION_HEADER_DOC)
def list_clinics(args):
    page = practice.list_clinics(principal(), args["page"], args["page_size"])
    return page.items, page_headers(page)


@blp.route("/clinics/<int:clinic_id>", methods=["GET"])
@blp.response(200, ClinicOut)
def get_clinic(clinic_id):
    return practice.get_clinic(principal(), clinic_id)


@blp.route("/clinics/<int:clinic_id>", methods=["PATCH"])
@blp.arguments(ClinicPatch)
@blp.response(200, ClinicOut)
def update_clinic(data, clinic_id):
    return practice.update_clinic(principal(), clinic_id, data)


@blp.route("/clinics/<int:clinic_id>", methods=["DELETE"])
@blp.response(204)
def delete_clinic(clinic_id):
    practice.delete_clinic(principal(), clinic_id)


@blp.route("/clinics/<int:clinic_id>/rooms", methods=["POST"])
@blp.arguments(RoomIn)
@blp.response(201, RoomOut)
def create_room(data, clinic_id):
    return practice.create_room(principal(), clinic_id, data)


@blp.route("/clinics/<int:clinic_id>/rooms", methods=["GET"])
@blp.arguments(PageArgs, location="query")
@blp.response(200, RoomOut(many=True), headers=PAGINATION_HEADER_DOC)
def list_rooms(args, clinic_id):
    page = practice.list_rooms(principal(), clinic_id, args["page"], args["page_size"])
    return page.items, page_headers(page)
