"""Ember's one error hierarchy.

Every error Ember raises on purpose derives from :class:`EmberError`. Each class carries a stable
``code`` (sent over the wire) and the HTTP status the server answers with. The server serialises
them in one exception handler; the SDK maps the ``code`` back to the same class; the CLI prints
``message`` as one line and exits non-zero.

    EmberError (500, INTERNAL_ERROR)
    ├── InvalidInputError (400, INVALID_PARAMETER_VALUE)
    │   ├── SpecError (400, INVALID_SPEC)            a YAML file that does not validate
    │   └── PayloadTooLargeError (413, PAYLOAD_TOO_LARGE)  a body past its limit
    ├── NotFoundError (404, RESOURCE_DOES_NOT_EXIST)
    ├── RouteNotFoundError (404, ENDPOINT_NOT_FOUND)  no such URL (not: no such resource)
    ├── MethodNotAllowedError (405, METHOD_NOT_ALLOWED)
    ├── AlreadyExistsError (400, RESOURCE_ALREADY_EXISTS)   400 as MLflow answers it
    ├── ConflictError (409, CONFLICT)                 e.g. cancelling a finished job
    ├── PermissionDeniedError (403, PERMISSION_DENIED)
    ├── UnsupportedError (400, NOT_SUPPORTED)         a feature local compute cannot provide
    ├── EnvironmentBuildError (400, ENVIRONMENT_BUILD_FAILED)
    ├── ServerUnavailableError (503, SERVER_UNAVAILABLE)
    ├── DeploymentFailedError (500, DEPLOYMENT_FAILED)  a worker that exits or is never ready
    ├── EndpointRequestError (ENDPOINT_ERROR)        a scoring request the endpoint refused;
    │                                                 carries the endpoint's status and code
    └── UserCodeError (400, USER_ERROR)               raised by a user's script; traceback kept

The codes that MLflow clients understand (``RESOURCE_DOES_NOT_EXIST``, ``INVALID_PARAMETER_VALUE``,
``RESOURCE_ALREADY_EXISTS``) are used verbatim so the tracking protocol needs no second mapping.
"""

from __future__ import annotations

from typing import Any


class EmberError(Exception):
    """Root of every error Ember raises on purpose."""

    code = "INTERNAL_ERROR"
    http_status = 500

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error_code": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return body


class InvalidInputError(EmberError):
    code = "INVALID_PARAMETER_VALUE"
    http_status = 400


class SpecError(InvalidInputError):
    """A YAML spec that does not validate: names the file, line and key, with a hint."""

    code = "INVALID_SPEC"

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        key: str | None = None,
        hint: str | None = None,
    ) -> None:
        where = ""
        if file:
            where = f"{file}:{line}: " if line else f"{file}: "
        elif line:
            where = f"line {line}: "
        text = f"{where}{message}"
        if hint:
            text += f" ({hint})"
        super().__init__(text, details={"file": file, "line": line, "key": key, "hint": hint})
        self.file = file
        self.line = line
        self.key = key
        self.hint = hint


class PayloadTooLargeError(InvalidInputError):
    """A request body larger than its limit (``ember.entities.limits``)."""

    code = "PAYLOAD_TOO_LARGE"
    http_status = 413


class NotFoundError(EmberError):
    code = "RESOURCE_DOES_NOT_EXIST"
    http_status = 404


class RouteNotFoundError(EmberError):
    """No route answers this URL: a client/server mismatch, not a missing resource (so not a
    :class:`NotFoundError`, which callers read as "create it")."""

    code = "ENDPOINT_NOT_FOUND"
    http_status = 404


class MethodNotAllowedError(EmberError):
    code = "METHOD_NOT_ALLOWED"
    http_status = 405


class AlreadyExistsError(EmberError):
    code = "RESOURCE_ALREADY_EXISTS"
    http_status = 400


class ConflictError(EmberError):
    code = "CONFLICT"
    http_status = 409


class UnauthenticatedError(EmberError):
    """No credentials, or credentials that are unknown, expired or revoked (HTTP 401)."""

    code = "UNAUTHENTICATED"
    http_status = 401


class PermissionDeniedError(EmberError):
    code = "PERMISSION_DENIED"
    http_status = 403


class UnsupportedError(EmberError):
    code = "NOT_SUPPORTED"
    http_status = 400


class EnvironmentBuildError(EmberError):
    code = "ENVIRONMENT_BUILD_FAILED"
    http_status = 400


class ServerUnavailableError(EmberError):
    code = "SERVER_UNAVAILABLE"
    http_status = 503


class DeploymentFailedError(EmberError):
    """A deployment's worker exited or never became ready; the message has its log tail."""

    code = "DEPLOYMENT_FAILED"
    http_status = 500


class EndpointRequestError(EmberError):
    """An endpoint answered a scoring request with an error (SDK/CLI ``invoke``)."""

    code = "ENDPOINT_ERROR"
    http_status = 502

    def __init__(self, message: str, *, status: int = 502, endpoint_code: str = "",
                 details: dict[str, Any] | None = None) -> None:
        super().__init__(message, details=details)
        self.status = status
        self.endpoint_code = endpoint_code


class UserCodeError(EmberError):
    """An error raised by user code (a job script, a scoring script), reported as the user's."""

    code = "USER_ERROR"
    http_status = 400


_BY_CODE: dict[str, type[EmberError]] = {
    cls.code: cls
    for cls in (
        EmberError,
        InvalidInputError,
        SpecError,
        PayloadTooLargeError,
        NotFoundError,
        RouteNotFoundError,
        MethodNotAllowedError,
        AlreadyExistsError,
        ConflictError,
        UnauthenticatedError,
        PermissionDeniedError,
        UnsupportedError,
        EnvironmentBuildError,
        ServerUnavailableError,
        DeploymentFailedError,
        EndpointRequestError,
        UserCodeError,
    )
}


def error_from_body(status: int, body: Any) -> EmberError:
    """Rebuild the matching error class from a server error body (used by the SDK)."""
    if isinstance(body, dict) and "error_code" in body:
        cls = _BY_CODE.get(str(body["error_code"]), EmberError)
        message = str(body.get("message", ""))
        if cls is SpecError:
            err: EmberError = InvalidInputError.__new__(SpecError)
            EmberError.__init__(err, message, details=body.get("details"))
            return err
        return cls(message, details=body.get("details"))
    if status == 404:
        return NotFoundError(f"not found (HTTP {status})")
    return EmberError(f"server answered HTTP {status}: {str(body)[:200]}")
