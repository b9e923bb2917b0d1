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
