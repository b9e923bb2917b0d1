"""esketamine REMS: patient enrollment date, Patient Monitoring Forms

Revision ID: 0003
Revises: 0001
Create Date: 2026-12-01 21:15:00

"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = '0003'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('patients', schema=None) as batch_op:
        batch_op.add_column(sa.Column('rems_enrolled_on', sa.Date(), nullable=True))

    op.create_table('rems_monitoring_forms',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('appointment_id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('clinic_id', sa.Integer(), nullable=False),
    sa.Column('session_on', sa.Date(), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=False),
    sa.Column('dose_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('discharged_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('submitted_on', sa.Date(), nullable=True),
    sa.Column('reference', sa.String(length=100), nullable=True),
    sa.Column('overdue_flagged_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('discharged_at > dose_at', name='ck_rems_forms_discharge_after_dose'),
    sa.CheckConstraint('due_on >= session_on', name='ck_rems_forms_due_after_session'),
    sa.CheckConstraint('(submitted_on IS NULL) = (reference IS NULL)', name='ck_rems_forms_submission_whole'),
    sa.ForeignKeyConstraint(['appointment_id'], ['appointments.id'], ),
    sa.ForeignKeyConstraint(['clinic_id'], ['clinics.id'], ),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('appointment_id')
    )
    with op.batch_alter_table('rems_monitoring_forms', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rems_monitoring_forms_clinic_id'), ['clinic_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_rems_monitoring_forms_due_on'), ['due_on'], unique=False)
        batch_op.create_index(batch_op.f('ix_rems_monitoring_forms_patient_id'), ['patient_id'], unique=False)


def downgrade():
    with op.batch_alter_table('rems_monitoring_forms', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rems_monitoring_forms_patient_id'))
        batch_op.drop_index(batch_op.f('ix_rems_monitoring_forms_due_on'))
        batch_op.drop_index(batch_op.f('ix_rems_monitoring_forms_clinic_id'))
    op.drop_table('rems_monitoring_forms')
    with op.batch_alter_table('patients', schema=None) as batch_op:
        batch_op.drop_column('rems_enrolled_on')
