"""``promptflow.exceptions``: the classes user code raises or catches."""

from __future__ import annotations

from enum import Enum
from typing import Any


class ErrorTarget(str, Enum):
    EXECUTOR = "Executor"
    FLOW_EXECUTOR = "FlowExecutor"
    NODE_EXECUTOR = "NodeExecutor"
    TOOL = "Tool"
    UNKNOWN = "Unknown"


class PromptflowException(Exception):
    def __init__(self, message: str = "", target: Any = ErrorTarget.UNKNOWN,
                 **kwargs: Any) -> None:
        super().__init__(message)
        self.message = message
        self.target = target


class UserErrorException(PromptflowException):
    pass


class SystemErrorException(PromptflowException):
    pass


class ValidationException(UserErrorException):
    pass
