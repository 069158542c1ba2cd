"""What every request body shares: unknown keys refused by name, and the size limits of
``ember.entities.limits`` as constrained types (so they are in the OpenAPI document too).

Response types that extend a request type re-declare the limited fields as plain types: a
response carries what is stored, including anything stored before a limit existed.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from ember.entities import limits


class Body(BaseModel):
    """A request body (or a part of one): an unknown key is a 400 naming it, not ignored."""

    model_config = ConfigDict(extra="forbid")


_Key = Annotated[str, Field(max_length=limits.MAX_TAG_KEY_LENGTH)]
_Value = Annotated[str, Field(max_length=limits.MAX_TAG_LENGTH)]
_EnvValue = Annotated[str, Field(max_length=limits.MAX_ENVIRONMENT_VARIABLE_LENGTH)]

DisplayName = Annotated[str, Field(max_length=limits.MAX_DISPLAY_NAME_LENGTH)]
Description = Annotated[str, Field(max_length=limits.MAX_DESCRIPTION_LENGTH)]
Command = Annotated[str, Field(max_length=limits.MAX_COMMAND_LENGTH)]
Tags = Annotated[dict[_Key, _Value], Field(max_length=limits.MAX_TAGS)]
Properties = Annotated[dict[_Key, _Value], Field(max_length=limits.MAX_PROPERTIES)]
EnvironmentVariables = Annotated[dict[_Key, _EnvValue],
                                 Field(max_length=limits.MAX_ENVIRONMENT_VARIABLES)]


# How a route that answers file bytes documents its 200 (FastAPI would say JSON).
BINARY_RESPONSE: dict[int | str, dict[str, Any]] = {200: {
    "description": "The bytes", "content": {"application/octet-stream": {
        "schema": {"type": "string", "format": "binary"}}}}}
# An MLflow artifact is answered with the media type its name suggests.
ANY_FILE_RESPONSE: dict[int | str, dict[str, Any]] = {200: {
    "description": "The file", "content": {"*/*": {
        "schema": {"type": "string", "format": "binary"}}}}}
