"""Database models, one concept per module. Importing this package registers every table."""

from .api_key import ROLES, ApiKey, api_key_clinics
from .audit import AuditEntry
from .booking import Allocation, Appointment, Enrollment
from .clinic import Clinic
from .feed import FEED_PRIVACY, FEED_SCOPES, Feed
from .idempotency import IdempotencyRecord
from .job_run import JOB_OUTCOMES, JobRun
from .patient import Patient
from .protocol import ProtocolRecord, ProtocolVersion, SessionKindRecord
from .room import Room
from .staff import Shift, StaffMember, TimeOff
from .waitlist import CapacityRelease, Offer, OfferAppointment, WaitlistEntry

__all__ = [
    "ROLES", "Allocation", "ApiKey",
    "Appointment", "AuditEntry", "Clinic", "Enrollment", "IdempotencyRecord", "Patient",
    "ProtocolRecord",
    "ProtocolVersion", "Room", "SessionKindRecord", "Shift", "StaffMember", "TimeOff",
    "api_key_clinics",
    "FEED_PRIVACY", "FEED_SCOPES", "Feed", "JOB_OUTCOMES", "JobRun",
    "CapacityRelease", "Offer", "OfferAppointment", "WaitlistEntry",
]
