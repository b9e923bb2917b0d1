"""Session kinds, protocols (versioned) and built-in protocol templates."""

from __future__ import annotations

from marshmallow import fields

from ..services import impact, rule_store
from ..services.access import CONFIGURE
from .common import PAGINATION_HEADER_DOC, json_body, make_blueprint, page_headers, principal
from .guard import Need, needs
from .schemas.common import PageArgs, StrictSchema
from .schemas.rules import (
    InstantiateDoc,
    ProtocolDoc,
    ProtocolOut,
    SessionKindDoc,
    SessionKindOut,
)

# Rules are practice-wide: only unscoped keys change them (a dry run is any manager's).
blp = make_blueprint("rules", "Treatment-plan rules: session kinds, protocols, templates",
                     writes=Need(CONFIGURE, practice_wide=True))


def _body_doc(schema):
    return {"requestBody": {"required": True,
                            "content": {"application/json": {"schema": schema}}}}


def kind_out(record) -> dict:
    return {**record.body, "version": record.version, "updated_at": record.updated_at}


def version_out(version) -> dict:
    protocol = version.protocol
    return {**version.body, "id": protocol.id, "version": version.version,
            "current_version": protocol.current_version,
            "versions": list(range(1, protocol.current_version + 1)),
            "session_kinds": version.session_kinds, "created_at": version.created_at}


@blp.route("/session-kinds", methods=["POST"])
@blp.doc(**_body_doc(SessionKindDoc))
@blp.response(201, SessionKindOut)
def create_session_kind():
    return kind_out(rule_store.create_session_kind(principal(), json_body()))


@blp.route("/session-kinds", methods=["GET"])
@blp.arguments(PageArgs, location="query")
@blp.response(200, SessionKindOut(many=True), headers=PAGINATION_HEADER_DOC)
def list_session_kinds(args):
    page = rule_store.list_session_kinds(principal(), args["page"], args["page_size"])
    return [kind_out(r) for r in page.items], page_headers(page)


@blp.route("/session-kinds/<code>", methods=["GET"])
@blp.response(200, SessionKindOut)
def get_session_kind(code):
    return kind_out(rule_store.get_session_kind(principal(), code))


@blp.route("/session-kinds/<code>", methods=["PUT"])
@blp.doc(**_body_doc(SessionKindDoc))
@blp.response(200, SessionKindOut)
def replace_session_kind(code):
    return kind_out(rule_store.replace_session_kind(principal(), code, json_body()))


@blp.route("/protocols", methods=["POST"])
@blp.doc(**_body_doc(ProtocolDoc))
@blp.response(201, ProtocolOut)
def create_protocol():
    return version_out(rule_store.create_protocol(principal(), json_body()))


@blp.route("/protocols", methods=["GET"])
@blp.arguments(PageArgs, location="query")
@blp.response(200, ProtocolOut(many=True), headers=PAGINATION_HEADER_DOC)
def list_protocols(args):
    who = principal()
    page = rule_store.list_protocols(who, args["page"], args["page_size"])
    return [version_out(rule_store.get_version(who, p.id)) for p in page.items], \
        page_headers(page)


@blp.route("/protocols/<int:protocol_id>", methods=["GET"])
@blp.response(200, ProtocolOut)
def get_protocol(protocol_id):
    return version_out(rule_store.get_version(principal(), protocol_id))


@blp.route("/protocols/<int:protocol_id>", methods=["PUT"])
@blp.doc(**_body_doc(ProtocolDoc))
@blp.response(200, ProtocolOut)
def replace_protocol(protocol_id):
    return version_out(rule_store.replace_protocol(principal(), protocol_id, json_body()))


@blp.route("/protocols/<int:protocol_id>/versions/<int:version>", methods=["GET"])
@blp.response(200, ProtocolOut)
def get_protocol_version(protocol_id, version):
    return version_out(rule_store.get_version(principal(), protocol_id, version))


class TemplateOut(StrictSchema):
    code = fields.String()
    name = fields.String()
    source = fields.Raw()
    description = fields.String()
    min_hours_between_doses = fields.Float()
    phases = fields.List(fields.Dict())
    session_kinds = fields.List(fields.Dict())


@blp.route("/protocol-templates", methods=["GET"])
@blp.response(200, TemplateOut(many=True))
def list_templates():
    return rule_store.list_templates(principal())


@blp.route("/protocol-templates/<code>/instantiate", methods=["POST"])
@needs(CONFIGURE, practice_wide=True, paths={"code": rule_store.get_template})
@blp.arguments(InstantiateDoc)
@blp.response(201, ProtocolOut)
def instantiate_template(args, code):
    return version_out(rule_store.instantiate_template(principal(), code, args))


class ImpactViolation(StrictSchema):
    rule = fields.String()
    message = fields.String()
    appointment_ids = fields.List(fields.Integer())


class ImpactAffected(StrictSchema):
    enrollment_id = fields.Integer()
    patient_id = fields.Integer()
    clinic_id = fields.Integer()
    protocol_version = fields.Integer()
    violations = fields.List(fields.Nested(ImpactViolation))


class ImpactOut(StrictSchema):
    protocol_id = fields.Integer()
    current_version = fields.Integer()
    proposed_valid = fields.Boolean()
    checked_enrollments = fields.Integer()
    affected = fields.List(fields.Nested(ImpactAffected))


@blp.route("/protocols/<int:protocol_id>/impact", methods=["POST"])
@needs(CONFIGURE)
@blp.doc(**_body_doc(ProtocolDoc))
@blp.response(200, ImpactOut)
def protocol_impact(protocol_id):
    """Dry run: which booked future appointments the proposed rules would break. Changes nothing."""
    return impact.protocol_impact(principal(), protocol_id, json_body())
