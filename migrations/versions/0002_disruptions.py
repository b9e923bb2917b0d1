"""disruptions: proposals with held slots, closed periods on rooms and clinics, cancel reasons

Revision ID: 0002
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade():
    op.create_table('disruptions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('staff_id', sa.Integer(), nullable=True),
    sa.Column('room_id', sa.Integer(), nullable=True),
    sa.Column('clinic_id', sa.Integer(), nullable=True),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.Column('allow_clinic_ids', JSON, nullable=False),
    sa.Column('clinic_ids', JSON, nullable=False),
    sa.Column('hold_expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('summary', JSON, nullable=False),
    sa.Column('changes', JSON, nullable=False),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_by_key_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('staff_absence', 'room_closure', 'clinic_closure')", name='ck_disruptions_kind'),
    sa.CheckConstraint("status IN ('proposed', 'applied', 'discarded', 'expired')", name='ck_disruptions_status'),
    sa.CheckConstraint('starts_at < ends_at', name='ck_disruptions_start_before_end'),
    sa.ForeignKeyConstraint(['clinic_id'], ['clinics.id'], ),
    sa.ForeignKeyConstraint(['created_by_key_id'], ['api_keys.id'], ),
    sa.ForeignKeyConstraint(['room_id'], ['rooms.id'], ),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('disruptions', schema=None) as batch_op:
        batch_op.create_index('ix_disruptions_status', ['status'], unique=False)

    for table in ('clinics', 'rooms'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('closed_periods', JSON, nullable=False,
                                          server_default=sa.text("'[]'")))
    with op.batch_alter_table('appointments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cancel_reason', sa.String(length=30), nullable=True))
    with op.batch_alter_table('allocations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('disruption_id', sa.Integer(), nullable=True))
        batch_op.alter_column('appointment_id', existing_type=sa.Integer(), nullable=True)
        batch_op.create_index(batch_op.f('ix_allocations_disruption_id'), ['disruption_id'], unique=False)
        batch_op.create_foreign_key('fk_allocations_disruption_id_disruptions', 'disruptions',
                                    ['disruption_id'], ['id'], ondelete='CASCADE')
        batch_op.create_check_constraint('ck_allocations_one_owner',
                                         '(appointment_id IS NULL) <> (disruption_id IS NULL)')


def downgrade():
    op.execute('DELETE FROM allocations WHERE appointment_id IS NULL')
    with op.batch_alter_table('allocations', schema=None) as batch_op:
        batch_op.drop_constraint('ck_allocations_one_owner', type_='check')
        batch_op.drop_constraint('fk_allocations_disruption_id_disruptions', type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_allocations_disruption_id'))
        batch_op.alter_column('appointment_id', existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column('disruption_id')
    with op.batch_alter_table('appointments', schema=None) as batch_op:
        batch_op.drop_column('cancel_reason')
    for table in ('rooms', 'clinics'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('closed_periods')
    with op.batch_alter_table('disruptions', schema=None) as batch_op:
        batch_op.drop_index('ix_disruptions_status')
    op.drop_table('disruptions')
