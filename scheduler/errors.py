"""Domain errors raised by the service layer; the API maps each to one HTTP status."""

from __future__ import annotations


class DomainError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, fields: dict[str, list[str]] | None = None,
                 details: dict | None = None):
        super().__init__(message)
        self.message = message
        self.fields = fields or {}
        self.details = details or {}


class MalformedJson(DomainError):
    status = 400
    code = "malformed_json"


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class Conflict(DomainError):
    """The request is well formed but the current state forbids it (409)."""

    status = 409
    code = "conflict"


class Invalid(DomainError):
    """The request names something wrong; ``fields`` says which field and why (422)."""

    status = 422
    code = "validation_failed"

    @classmethod
    def field(cls, path: str, message: str, **details) -> Invalid:
        return cls(f"{path}: {message}", fields={path: [message]}, details=details)


class InternalFault(Exception):
    """A promise of our own broken (the engine placed a plan its evaluator rejects): a bug.

    Not a ``DomainError``: the request did nothing wrong, so it is never answered as a 4xx. The
    API answers 500 (nothing written) and the log keeps the details.
    """
