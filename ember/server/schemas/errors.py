"""The one error body of every route, and its place in the OpenAPI document."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class ErrorOut(BaseModel):
    """``error_code`` is stable (the SDK maps it back to its error class); ``message`` is one
    line for a person; ``details`` only where an error has structured parts (a spec error)."""

    error_code: str
    message: str
    details: dict[str, Any] | None = None


def _error_response(description: str) -> dict[str, Any]:
    # Inline content (not a "model"): a plain-text route's errors are JSON all the same.
    return {"description": description,
            "content": {"application/json": {"schema": ErrorOut.model_json_schema()}}}


# Declared on every route; they also replace FastAPI's 422 (Ember answers invalid input 400).
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    "4XX": _error_response("The request was refused (invalid, unknown, conflicting, too large)"),
    "5XX": _error_response("The server failed; the message is a summary, the server logs "
                           "have the details"),
}


# An OpenAI-compatible path relayed to a language-model deployment answers as OpenAI does
# (what the `openai` client reads): the router's refusals come back in OpenAI's error shape,
# Ember's own (authentication, an unknown endpoint) in Ember's.
_NULLABLE_TEXT = {"anyOf": [{"type": "string"}, {"type": "null"}]}
_OPENAI_ERROR = {
    "type": "object", "required": ["error"],
    "properties": {"error": {
        "type": "object", "required": ["message"],
        "properties": {"message": {"type": "string"}, "type": _NULLABLE_TEXT,
                       "param": _NULLABLE_TEXT, "code": _NULLABLE_TEXT}}}}


def _relayed_error_response(description: str) -> dict[str, Any]:
    either = {"anyOf": [ErrorOut.model_json_schema(), _OPENAI_ERROR]}
    return {"description": description, "content": {"application/json": {"schema": either}}}


OPENAI_RELAY_RESPONSES: dict[int | str, dict[str, Any]] = {
    "4XX": _relayed_error_response("Refused: by Ember (an error_code body) or by the model's "
                                   "server (OpenAI's error body)"),
    "5XX": _relayed_error_response("Failed: in Ember or in the model's server"),
}
