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

    app = Flask(__name__, instance_relative_config=False)
    app.config.from_object(get_config(config_name))
    app.config.update(overrides)

    db.init_app(app)
    migrate.init_app(app, db, directory=str(_migrations_dir()))
    app.register_blueprint(health_bp)
    register_api(app)
    register_cli(app)
    return app


def _migrations_dir():
    from pathlib import Path

    return Path(__file__).resolve().parent.parent / "migrations"
