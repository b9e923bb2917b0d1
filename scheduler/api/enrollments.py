from __future__ import annotations

from flask import jsonify, request

from ..services import enrollments
from ..services.access import BOOK
from .common import make_blueprint, principal
from .schemas.booking import EnrollmentIn, EnrollmentOut

blp = make_blueprint("enrollments", "Enroll a patient: place, hold, confirm or release a plan",
                     writes=BOOK)

IDEMPOTENCY_DOC = {"parameters": [{
    "in": "header", "name": "Idempotency-Key", "required": False, "schema": {"type": "string"},
    "description": "A retry with the same key returns the first answer and books nothing twice",
}]}


@blp.route("/enrollments", methods=["POST"])
@blp.arguments(EnrollmentIn)
@blp.doc(**IDEMPOTENCY_DOC)
@blp.response(201, EnrollmentOut)
@blp.alt_response(409, description="No plan fits: which session, rule or resource, and the "
                                   "earliest start date that would work")
def create_enrollment(data):
    key = request.headers.get("Idempotency-Key")
    if key is not None and not 1 <= len(key) <= 200:
        from ..errors import Invalid

        raise Invalid.field("Idempotency-Key", "must be 1-200 characters")
    result, replayed = enrollments.create_enrollment(
        principal(), enrollments.EnrollmentRequest(**data), idempotency_key=key,
        request_hash=enrollments.request_fingerprint(data) if key else None,
        render=EnrollmentOut().dump)
    if not replayed:
        return result, 201
    # A retry gets the first answer exactly as it was given, not the plan as it is now.
    body = result if isinstance(result, dict) else EnrollmentOut().dump(result)
    response = jsonify(body)
    response.status_code = 201
    response.headers["Idempotent-Replayed"] = "true"
    return response


@blp.route("/enrollments/<int:enrollment_id>", methods=["GET"])
@blp.response(200, EnrollmentOut)
def get_enrollment(enrollment_id):
    return enrollments.get_enrollment(principal(), enrollment_id)


@blp.route("/enrollments/<int:enrollment_id>/confirm", methods=["POST"])
@blp.response(200, EnrollmentOut)
def confirm_enrollment(enrollment_id):
    return enrollments.confirm_enrollment(principal(), enrollment_id)


@blp.route("/enrollments/<int:enrollment_id>/cancel", methods=["POST"])
@blp.response(200, EnrollmentOut)
def cancel_enrollment(enrollment_id):
    return enrollments.cancel_enrollment(principal(), enrollment_id)
