"""``GET /jobs``: whether the background jobs run, for the operator (admin only)."""

from __future__ import annotations

from flask import current_app
from marshmallow import fields

from ..jobs.status import job_status
from ..models.types import utcnow
from ..services.access import ADMIN
from .common import make_blueprint, principal
from .guard import Need
from .schemas.common import StrictSchema

blp = make_blueprint("jobs", "Background jobs: last run, outcome, next run (admin only)",
                     reads=Need(ADMIN, practice_wide=True))


class JobOut(StrictSchema):
    name = fields.String()
    description = fields.String()
    interval_seconds = fields.Integer()
    last_started_at = fields.DateTime(allow_none=True)
    last_finished_at = fields.DateTime(allow_none=True)
    outcome = fields.String(allow_none=True, metadata={"description": "running, ok or error"})
    message = fields.String(allow_none=True)
    last_result = fields.Integer(allow_none=True, metadata={
        "description": "rows the last successful run changed"})
    runner = fields.String(allow_none=True, metadata={"description": "host:pid of the runner"})
    next_run_at = fields.DateTime(allow_none=True)
    late = fields.Boolean(metadata={
        "description": "due and not run: no scheduler process is running"})


@blp.route("/jobs", methods=["GET"])
@blp.response(200, JobOut(many=True))
def list_jobs():
    return job_status(principal(), current_app.config, utcnow())
