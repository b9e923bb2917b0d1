"""Database models, one concept per module. Importing this package registers every table."""

from .api_key import ROLES, ApiKey, api_key_clinics
from .audit import AuditEntry
from .booking import Allocation, Appointment, Enrollment
from .clinic import CalendarChange, Clinic
from .disruption import Disruption
from .feed import FEED_PRIVACY, FEED_SCOPES, Feed
from .idempotency import IdempotencyRecord
from .job_run import JOB_OUTCOMES, JobRun
from .patient import Patient
from .protocol import ProtocolRecord, ProtocolVersion, SessionKindRecord
from .rems import FORM_STATUSES, MonitoringForm
from .room import Room
from .staff import Shift, StaffMember, TimeOff
from .waitlist import CapacityRelease, Offer, OfferAppointment, WaitlistEntry
from .webhook import (
    WEBHOOK_PRIVACY,
    Webhook,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEvent,
    WebhookReminder,
)

__all__ = [
    "ROLES", "Allocation", "ApiKey", "CalendarChange",
    "Appointment", "AuditEntry", "Clinic", "Disruption", "Enrollment", "IdempotencyRecord",
    "Patient",
    "ProtocolRecord",
    "ProtocolVersion", "Room", "SessionKindRecord", "Shift", "StaffMember", "TimeOff",
    "api_key_clinics",
    "FEED_PRIVACY", "FEED_SCOPES", "Feed", "JOB_OUTCOMES", "JobRun",
    "FORM_STATUSES", "MonitoringForm",
    "WEBHOOK_PRIVACY", "Webhook", "WebhookAttempt", "WebhookDelivery", "WebhookEvent",
    "WebhookReminder",
    "CapacityRelease", "Offer", "OfferAppointment", "WaitlistEntry",
]
