from __future__ import annotations

from ..services import practice
from ..services.access import BOOK
from .common import PAGINATION_HEADER_DOC, make_blueprint, page_headers, principal
from .schemas.practice import PatientIn, PatientOut, PatientPatch, PatientQuery

blp = make_blueprint("patients", "Patients (each belongs to a home clinic)", writes=BOOK)


@blp.route("/patients", methods=["POST"])
@blp.arguments(PatientIn)
@blp.response(201, PatientOut)
def create_patient(data):
    return practice.create_patient(principal(), data)


@blp.route("/patients", methods=["GET"])
@blp.arguments(PatientQuery, location="query")
@blp.response(200, PatientOut(many=True), headers=PAGINATION_HEADER_DOC)
def list_patients(args):
    page = practice.list_patients(principal(), args["page"], args["page_size"],
                                  clinic_id=args.get("clinic_id"),
                                  external_id=args.get("external_id"))
    return page.items, page_headers(page)


@blp.route("/patients/<int:patient_id>", methods=["GET"])
@blp.response(200, PatientOut)
def get_patient(patient_id):
    return practice.get_patient(principal(), patient_id)


@blp.route("/patients/<int:patient_id>", methods=["PATCH"])
@blp.arguments(PatientPatch)
@blp.response(200, PatientOut)
def update_patient(data, patient_id):
    return practice.update_patient(principal(), patient_id, data)
