"""waitlist, offers and capacity releases (SPEC 9)

Revision ID: 0008
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0008'
down_revision = '0006'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')
OPEN = sa.text("status = 'open'")


def upgrade():
    op.create_table('waitlist_entries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('enrollment_id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('clinic_id', sa.Integer(), nullable=False),
    sa.Column('joined_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('min_gain_days', sa.Integer(), nullable=False),
    sa.Column('passed_generation', sa.Integer(), nullable=True),
    sa.CheckConstraint('min_gain_days >= 1', name='ck_waitlist_entries_min_gain_days'),
    sa.ForeignKeyConstraint(['clinic_id'], ['clinics.id'], ),
    sa.ForeignKeyConstraint(['enrollment_id'], ['enrollments.id'], ),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('enrollment_id')
    )
    op.create_index('ix_waitlist_entries_clinic_order', 'waitlist_entries',
                    ['clinic_id', 'joined_at', 'id'], unique=False)
    op.create_table('offers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('enrollment_id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('clinic_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('gain_days', sa.Integer(), nullable=False),
    sa.Column('replaces', JSON, nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('open', 'accepted', 'declined', 'expired', 'withdrawn')",
                       name='ck_offers_status'),
    sa.ForeignKeyConstraint(['clinic_id'], ['clinics.id'], ),
    sa.ForeignKeyConstraint(['enrollment_id'], ['enrollments.id'], ),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_offers_clinic_status', 'offers', ['clinic_id', 'status'], unique=False)
    op.create_index(op.f('ix_offers_enrollment_id'), 'offers', ['enrollment_id'], unique=False)
    # One open offer per enrollment, whatever the code does (partial unique index).
    op.create_index('uq_offers_one_open_per_enrollment', 'offers', ['enrollment_id'],
                    unique=True, sqlite_where=OPEN, postgresql_where=OPEN)
    op.create_table('offer_appointments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('offer_id', sa.Integer(), nullable=False),
    sa.Column('appointment_id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=100), nullable=False),
    sa.ForeignKeyConstraint(['appointment_id'], ['appointments.id'], ),
    sa.ForeignKeyConstraint(['offer_id'], ['offers.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('appointment_id')
    )
    op.create_index(op.f('ix_offer_appointments_offer_id'), 'offer_appointments', ['offer_id'],
                    unique=False)
    op.create_table('capacity_releases',
    sa.Column('clinic_id', sa.Integer(), nullable=False),
    sa.Column('generation', sa.Integer(), nullable=False),
    sa.Column('matched_generation', sa.Integer(), nullable=False),
    sa.Column('released_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['clinic_id'], ['clinics.id'], ),
    sa.PrimaryKeyConstraint('clinic_id')
    )


def downgrade():
    op.drop_table('capacity_releases')
    op.drop_index(op.f('ix_offer_appointments_offer_id'), table_name='offer_appointments')
    op.drop_table('offer_appointments')
    op.drop_index('uq_offers_one_open_per_enrollment', table_name='offers',
                  sqlite_where=OPEN, postgresql_where=OPEN)
    op.drop_index(op.f('ix_offers_enrollment_id'), table_name='offers')
    op.drop_index('ix_offers_clinic_status', table_name='offers')
    op.drop_table('offers')
    op.drop_index('ix_waitlist_entries_clinic_order', table_name='waitlist_entries')
    op.drop_table('waitlist_entries')
