"""per-clinic calendar version, bumped by the database on every allocation change (issue 16)

Every insert, update or delete of an allocation bumps ``clinics.calendar_version`` of the
clinic that owns it (the appointment's clinic, else the disruption's, else the room's, else the
first clinic) and logs ``(clinic, new version, allocation id)`` in ``calendar_changes``; every
insert, update or delete of an appointment bumps its clinic's (both, if it moved) and logs
``(clinic, new version, NULL)``; all in the same transaction, by trigger: no code path (ORM,
Core, raw SQL, another program) can change the calendar without moving the version (on
PostgreSQL once per clinic and transaction, every change of the transaction logged with that
version). The version update takes the clinic row's lock until commit, so one clinic's
versions commit in order: a reader that sees version v also sees every change logged with a
version <= v. Readers use it for cheap feed validators and for per-worker
snapshot caches that apply only the changes since the version they hold.

Revision ID: 0010
Revises: 0009
"""
from alembic import op
import sqlalchemy as sa

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

# The owning clinic of allocation row R (NEW or OLD), as SQL shared by both dialects.
OWNER = """COALESCE(
    (SELECT clinic_id FROM appointments WHERE id = {r}.appointment_id),
    (SELECT clinic_id FROM disruptions WHERE id = {r}.disruption_id),
    (SELECT clinic_id FROM rooms WHERE {r}.resource_type = 'room' AND id = {r}.resource_id),
    (SELECT min(id) FROM clinics))"""

# PostgreSQL: one bump per clinic and transaction (remembered in a transaction-local setting,
# undone with the transaction or savepoint like the update itself), every change of the
# transaction logged with that version. Updating the clinic row once per allocation row left
# tens of thousands of dead row versions behind the hot clinic row (27 MB for 5 clinics after
# 1,000 enrollments) and slowed every read of it.
PG_BUMP_FUNCTION = """
CREATE OR REPLACE FUNCTION regimen_bump_calendar(owner integer) RETURNS bigint AS $$
DECLARE
    bumped bigint;
BEGIN
    bumped := NULLIF(current_setting('regimen.calendar_bumped_' || owner, true), '')::bigint;
    IF bumped IS NULL THEN
        UPDATE clinics SET calendar_version = calendar_version + 1 WHERE id = owner
            RETURNING calendar_version INTO bumped;
        IF bumped IS NOT NULL THEN
            PERFORM set_config('regimen.calendar_bumped_' || owner, bumped::text, true);
        END IF;
    END IF;
    RETURN bumped;
END
$$ LANGUAGE plpgsql
"""

PG_FUNCTION = f"""
CREATE OR REPLACE FUNCTION regimen_calendar_changed() RETURNS trigger AS $$
DECLARE
    owner integer;
    bumped bigint;
BEGIN
    IF TG_OP = 'DELETE' THEN
        owner := {OWNER.format(r='OLD')};
    ELSE
        owner := {OWNER.format(r='NEW')};
    END IF;
    IF owner IS NULL THEN
        RETURN NULL;
    END IF;
    bumped := regimen_bump_calendar(owner);
    IF bumped IS NOT NULL THEN
        INSERT INTO calendar_changes (clinic_id, version, allocation_id)
            VALUES (owner, bumped, CASE WHEN TG_OP = 'DELETE' THEN OLD.id ELSE NEW.id END);
    END IF;
    RETURN NULL;
END
$$ LANGUAGE plpgsql
"""

PG_TRIGGER = """
CREATE TRIGGER trg_allocations_calendar_version
AFTER INSERT OR UPDATE OR DELETE ON allocations
FOR EACH ROW EXECUTE FUNCTION regimen_calendar_changed()
"""


PG_APPOINTMENT_FUNCTION = """
CREATE OR REPLACE FUNCTION regimen_appointment_changed() RETURNS trigger AS $$
DECLARE
    owner integer;
    bumped bigint;
BEGIN
    FOR owner IN
        SELECT DISTINCT c FROM (VALUES
            (CASE WHEN TG_OP <> 'INSERT' THEN OLD.clinic_id END),
            (CASE WHEN TG_OP <> 'DELETE' THEN NEW.clinic_id END)) AS owners(c)
        WHERE c IS NOT NULL ORDER BY c
    LOOP
        bumped := regimen_bump_calendar(owner);
        IF bumped IS NOT NULL THEN
            INSERT INTO calendar_changes (clinic_id, version, allocation_id)
                VALUES (owner, bumped, NULL);
        END IF;
    END LOOP;
    RETURN NULL;
END
$$ LANGUAGE plpgsql
"""

PG_APPOINTMENT_TRIGGER = """
CREATE TRIGGER trg_appointments_calendar_version
AFTER INSERT OR UPDATE OR DELETE ON appointments
FOR EACH ROW EXECUTE FUNCTION regimen_appointment_changed()
"""


def sqlite_appointment_triggers() -> list[str]:
    out = []
    for event, rows in (("INSERT", ("NEW",)), ("UPDATE", ("OLD", "NEW")), ("DELETE", ("OLD",))):
        owners = " UNION ".join(f"SELECT {r}.clinic_id" for r in rows)
        out.append(f"""
CREATE TRIGGER trg_appointments_calendar_version_{event.lower()}
AFTER {event} ON appointments
BEGIN
    UPDATE clinics SET calendar_version = calendar_version + 1 WHERE id IN ({owners});
    INSERT INTO calendar_changes (clinic_id, version, allocation_id)
        SELECT id, calendar_version, NULL FROM clinics WHERE id IN ({owners});
END""")
    return out


def sqlite_triggers() -> list[str]:
    out = []
    for event, row in (("INSERT", "NEW"), ("UPDATE", "NEW"), ("DELETE", "OLD")):
        owner = OWNER.format(r=row)
        out.append(f"""
CREATE TRIGGER trg_allocations_calendar_version_{event.lower()}
AFTER {event} ON allocations
BEGIN
    UPDATE clinics SET calendar_version = calendar_version + 1 WHERE id = {owner};
    INSERT INTO calendar_changes (clinic_id, version, allocation_id)
        SELECT id, calendar_version, {row}.id FROM clinics WHERE id = {owner};
END""")
    return out


def upgrade():
    op.add_column('clinics', sa.Column('calendar_version', sa.BigInteger(), nullable=False,
                                       server_default='0'))
    op.create_table('calendar_changes',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('clinic_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.Column('allocation_id', sa.BigInteger(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_calendar_changes_clinic_version', 'calendar_changes',
                    ['clinic_id', 'version'], unique=False)
    if op.get_bind().dialect.name == 'postgresql':
        for statement in (PG_BUMP_FUNCTION, PG_FUNCTION, PG_TRIGGER, PG_APPOINTMENT_FUNCTION,
                          PG_APPOINTMENT_TRIGGER):
            op.execute(statement)
    else:
        for statement in sqlite_triggers() + sqlite_appointment_triggers():
            op.execute(statement)


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("DROP TRIGGER IF EXISTS trg_allocations_calendar_version ON allocations")
        op.execute("DROP FUNCTION IF EXISTS regimen_calendar_changed()")
        op.execute("DROP TRIGGER IF EXISTS trg_appointments_calendar_version ON appointments")
        op.execute("DROP FUNCTION IF EXISTS regimen_appointment_changed()")
        op.execute("DROP FUNCTION IF EXISTS regimen_bump_calendar(integer)")
    else:
        for event in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS trg_allocations_calendar_version_{event}")
            op.execute(f"DROP TRIGGER IF EXISTS trg_appointments_calendar_version_{event}")
    op.drop_index('ix_calendar_changes_clinic_version', table_name='calendar_changes')
    op.drop_table('calendar_changes')
    with op.batch_alter_table('clinics') as batch:
        batch.drop_column('calendar_version')
