"""Appointment and enrollment statuses: one vocabulary for the models, services and API.

    held ──confirm──▶ booked ──check-in──▶ checked_in ──complete──▶ completed
      │                 │ └──no-show──▶ no_show
      └──cancel──▶ cancelled ◀──cancel──┘
"""

from __future__ import annotations

HELD = "held"
BOOKED = "booked"
CHECKED_IN = "checked_in"
COMPLETED = "completed"
CANCELLED = "cancelled"
NO_SHOW = "no_show"
EXPIRED = "expired"
"""An enrollment (or a disruption proposal) whose hold ran out before anyone confirmed it."""

APPOINTMENT_STATUSES = (HELD, BOOKED, CHECKED_IN, COMPLETED, CANCELLED, NO_SHOW)
ENROLLMENT_STATUSES = (HELD, BOOKED, CANCELLED, EXPIRED)

LIVE = (HELD, BOOKED)
"""Not begun yet: the only sessions a placement, a reschedule or a repair may move."""
UPCOMING = (HELD, BOOKED, CHECKED_IN)
"""Still ahead of the patient or under way: configuration must not strand these."""
OCCUPYING = (HELD, BOOKED, CHECKED_IN, COMPLETED)
"""Their allocations hold resources; a plan's rules are judged on these sessions."""
RELEASED = (CANCELLED, NO_SHOW)
"""Left the calendar: their allocations no longer hold anything."""

# Waitlist offers (SPEC 9): a held alternative plan waiting for the patient's answer.
OFFER_OPEN = "open"
OFFER_ACCEPTED = "accepted"
OFFER_DECLINED = "declined"
OFFER_EXPIRED = "expired"
OFFER_WITHDRAWN = "withdrawn"
"""The plan it would replace changed meanwhile (a session moved, was cancelled or started)."""
OFFER_STATUSES = (OFFER_OPEN, OFFER_ACCEPTED, OFFER_DECLINED, OFFER_EXPIRED, OFFER_WITHDRAWN)
