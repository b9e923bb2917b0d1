"""Who is asking, and what they may touch: roles as permission sets, clinic scope as a wall."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import Forbidden, NotFound

READ, BOOK, CONFIGURE, ADMIN = "read", "book", "configure", "admin"

ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "admin": frozenset({READ, BOOK, CONFIGURE, ADMIN}),
    "manager": frozenset({READ, BOOK, CONFIGURE}),
    "front_desk": frozenset({READ, BOOK}),
    "viewer": frozenset({READ}),
}


@dataclass(frozen=True)
class Principal:
    role: str
    clinic_ids: frozenset[int] | None = None
    """None: every clinic. Otherwise the only clinics this principal can see at all."""
    api_key_id: int | None = None

    def require(self, permission: str) -> None:
        if permission not in ROLE_PERMISSIONS[self.role]:
            raise Forbidden(f"role {self.role!r} may not {permission}")

    @property
    def scoped(self) -> bool:
        return self.clinic_ids is not None

    def sees(self, clinic_id: int | None) -> bool:
        return self.clinic_ids is None or clinic_id in self.clinic_ids

    def sees_any(self, clinic_ids) -> bool:
        return self.clinic_ids is None or bool(self.clinic_ids & set(clinic_ids))

    def check_visible(self, clinic_id: int | None, what: str) -> None:
        """Out-of-scope things answer exactly like missing ones: a wall, not a door."""
        if not self.sees(clinic_id):
            raise NotFound(f"{what} not found")


SYSTEM_PRINCIPAL = Principal(role="admin")


# ---------------------------------------------------------------- who sees a patient
#
# One rule, used by every endpoint that shows or names a patient (patients, enrollments,
# appointments, availability, feeds): a key sees a patient when it sees the patient's home
# clinic, or a clinic where the patient has ever been enrolled or booked. A clinic that treats
# someone must know who walks in (a details feed of its calendar names them, and the same key
# reads them); a clinic that never had them sees nothing of them.

def patient_visible(who: Principal, patient) -> bool:
    if not who.scoped or who.sees(patient.clinic_id):
        return True
    from sqlalchemy import select

    from ..extensions import db
    from ..models import Patient

    return db.session.scalar(select(Patient.id).where(
        Patient.id == patient.id, visible_patients(who))) is not None


def visible_patients(who: Principal):
    """SQL condition on ``Patient`` for the same rule (lists, joins): None when unscoped."""
    if not who.scoped:
        return None
    from sqlalchemy import exists, or_

    from ..models import Appointment, Enrollment, Patient

    clinics = sorted(who.clinic_ids)
    return or_(Patient.clinic_id.in_(clinics),
               exists().where(Enrollment.patient_id == Patient.id,
                              Enrollment.clinic_id.in_(clinics)),
               exists().where(Appointment.patient_id == Patient.id,
                              Appointment.clinic_id.in_(clinics)))


def check_patient_visible(who: Principal, patient, what: str = "patient") -> None:
    if patient is None or not patient_visible(who, patient):
        raise NotFound(f"{what} not found")
