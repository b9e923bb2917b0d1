"""TRUNCATE moves every clinic's calendar version too (PostgreSQL)

Row triggers (0010) do not fire on TRUNCATE. A statement trigger on allocations and
appointments moves every clinic's version without logging a change: the gap in the log makes
every worker's copy read its clinic again in full, and feed validators change.
SQLite has no TRUNCATE (its DELETE without WHERE fires the row triggers).

Revision ID: 0011
Revises: 0010
"""
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

PG_FUNCTION = """
CREATE OR REPLACE FUNCTION regimen_calendar_truncated() RETURNS trigger AS $$
BEGIN
    UPDATE clinics SET calendar_version = calendar_version + 1;
    RETURN NULL;
END
$$ LANGUAGE plpgsql
"""


def upgrade():
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.execute(PG_FUNCTION)
    for table in ('allocations', 'appointments'):
        op.execute(f"CREATE TRIGGER trg_{table}_calendar_truncate AFTER TRUNCATE ON {table} "
                   "FOR EACH STATEMENT EXECUTE FUNCTION regimen_calendar_truncated()")


def downgrade():
    if op.get_bind().dialect.name != 'postgresql':
        return
    for table in ('allocations', 'appointments'):
        op.execute(f"DROP TRIGGER IF EXISTS trg_{table}_calendar_truncate ON {table}")
    op.execute("DROP FUNCTION IF EXISTS regimen_calendar_truncated()")
