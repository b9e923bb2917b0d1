"""Clinic slot grid (slot_minutes); shifts may cross midnight

Revision ID: 0009
Revises: 0008

A clinic's ``slot_minutes`` (5-60, default 15) is the grid of round start times. A shift whose
end is not after its start runs into the next day (22:00-06:00), so the shifts' check becomes
"start differs from end". Both tables go through batch mode so SQLite rebuilds them.
"""
from alembic import op
import sqlalchemy as sa

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("clinics") as batch:
        batch.add_column(sa.Column("slot_minutes", sa.Integer(), server_default="15",
                                   nullable=False))
        batch.create_check_constraint("ck_clinics_slot_minutes",
                                      "slot_minutes BETWEEN 5 AND 60")
    with op.batch_alter_table("shifts") as batch:
        batch.drop_constraint("ck_shifts_start_before_end", type_="check")
        batch.create_check_constraint("ck_shifts_start_not_end", '"start" <> "end"')


def downgrade():
    # Overnight shifts cannot be kept under the old check.
    op.execute('DELETE FROM shifts WHERE "start" > "end"')
    with op.batch_alter_table("shifts") as batch:
        batch.drop_constraint("ck_shifts_start_not_end", type_="check")
        batch.create_check_constraint("ck_shifts_start_before_end", '"start" < "end"')
    with op.batch_alter_table("clinics") as batch:
        batch.drop_constraint("ck_clinics_slot_minutes", type_="check")
        batch.drop_column("slot_minutes")
