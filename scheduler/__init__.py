"""Regimen: scheduling for ketamine treatment across several clinics.

Layers, each depending only on those before it:
``rules`` (pure rule language) → ``engine`` (pure placement) → ``services`` (transactions,
database, models) → ``api`` (HTTP: parse, call, serialise).
"""

from __future__ import annotations

from flask import Flask

from config import get_config


def create_app(config_name: str | None = None, **overrides) -> Flask:
    from . import audit, database  # noqa: F401  (registers engine and session listeners)
    from .api import register_api
    from .cli import register_cli
    from .extensions import db, migrate
    from .health import health_bp
    from .web import web_bp

    app = Flask(__name__, instance_relative_config=False)
    app.config.from_object(get_config(config_name))
    app.config.update(overrides)
    if app.config.get("REQUIRE_SECRET_ENCRYPTION_KEY") and not app.config.get(
            "SECRET_ENCRYPTION_KEY"):
        raise RuntimeError("REGIMEN_SECRET_KEY is not set: production keeps webhook secrets "
                           "encrypted with it and does not start without one")

    _bound_path_integers(app)
    if app.config.get("PROXY_HOPS"):
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=app.config["PROXY_HOPS"])
    db.init_app(app)
    migrate.init_app(app, db, directory=str(_migrations_dir()))
    app.register_blueprint(health_bp)
    app.register_blueprint(web_bp)  # the front-desk calendar page (SPEC 11)
    _track_read_only_requests(app)  # first: it decides how the request's transaction begins
    register_api(app)
    register_cli(app)
    return app


def _bound_path_integers(app: Flask) -> None:
    """``/patients/<int:id>`` with an id no 64-bit column can hold names nothing: it answers
    404 like any missing id, never an overflow deep in the database driver."""
    from werkzeug.routing import IntegerConverter

    class Int64Converter(IntegerConverter):
        # Not werkzeug's ``max``: a converter that refuses makes werkzeug answer 405 when the
        # same path has rules for other methods. Ids start at 1, so 0 is never found.
        def to_python(self, value: str) -> int:
            number = super().to_python(value)
            return number if number <= 2**63 - 1 else 0

    app.url_map.converters["int"] = Int64Converter


def _track_read_only_requests(app: Flask) -> None:
    from flask import g, request

    from .database import mark_request_read_only, read_only_request

    @app.before_request
    def _mark():
        g.read_only_token = mark_request_read_only(request.method)

    @app.teardown_request
    def _unmark(exc):
        token = g.pop("read_only_token", None)
        if token is not None:
            read_only_request.reset(token)


def _migrations_dir():
    from pathlib import Path

    return Path(__file__).resolve().parent.parent / "migrations"
