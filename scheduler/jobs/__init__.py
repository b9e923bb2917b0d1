"""Background jobs: hold expiry, rolling horizons, overdue flags.

They run in one dedicated process (``flask --app wsgi scheduler run``), never inside gunicorn
workers or ``create_app``: a scheduler per worker would run every job once per worker. Any number
of such processes may run on any number of machines; a PostgreSQL advisory lock elects the one
that schedules, and each run takes its own per-job lock too, so a job never runs twice at once
even while leadership changes hands. The job bodies live in the services (``holds``,
``horizon``, ``lifecycle``) and are idempotent: what they do is decided by database state,
so a repeated run changes nothing.

Modules: ``registry`` (what runs and how often), ``locks`` (advisory locks), ``runner`` (one
locked, recorded run), ``process`` (election and the blocking scheduler), ``status``
(``GET /jobs``), ``cli``.
"""
