"""Errors shared by every layer.

The hierarchy (edges map classes to HTTP status codes and CLI exit codes)::

    ModelyardError
    ├── NotFoundError            a named thing does not exist            (404, exit 4)
    ├── InvalidInputError        input rejected; carries the field name  (400/422, exit 2)
    │   ├── SignatureError       a frame does not match a model signature
    │   └── PayloadTooLargeError a body over its size limit             (413)
    ├── ConflictError            the change clashes with current state   (409, exit 5)
    ├── IntegrityError           stored bytes fail verification          (500, exit 6)
    ├── ModelLoadError           a model version cannot be loaded        (503, exit 6)
    └── TrustError               loading would run untrusted code        (403, exit 7)

Domain errors carry no HTTP codes; ``serving`` and ``cli`` do the mapping.
"""

from __future__ import annotations


class ModelyardError(Exception):
    """Base class for every error modelyard raises on purpose."""

    code = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFoundError(ModelyardError, LookupError):
    """A dataset, model, version or endpoint that was named does not exist."""

    code = "not_found"


class InvalidInputError(ModelyardError, ValueError):
    """Input was rejected; ``field`` names what was wrong (``None`` for the whole input)."""

    code = "invalid_input"

    def __init__(self, message: str, *, field: str | None = None, row: int | None = None) -> None:
        super().__init__(message)
        self.field = field
        self.row = row


class SignatureError(InvalidInputError):
    """A frame or record set does not match a model's input signature."""

    code = "signature_mismatch"


class PayloadTooLargeError(InvalidInputError):
    """A request body or upload exceeds its size limit."""

    code = "body_too_large"


class ForbiddenError(InvalidInputError):
    """A request the caller's own identity rules out (e.g. approving one's own rollout)."""

    code = "forbidden"


class ConflictError(ModelyardError):
    """The requested change conflicts with the current state."""

    code = "conflict"


class IntegrityError(ModelyardError):
    """Stored bytes do not match their recorded digest (corruption or tampering)."""

    code = "integrity_error"


class ModelLoadError(ModelyardError):
    """A model version could not be loaded, verified or warmed."""

    code = "model_load_error"


class TrustError(ModelyardError):
    """Loading this artifact would execute code nobody marked as trusted."""

    code = "untrusted"
