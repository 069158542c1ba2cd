"""The one place every workspace route passes through: the workspace access check.

Today it checks that the workspace exists; authentication and roles plug in here later
(``check_access`` receives the request, so a token or user header can be read here).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Path, Request

from ember.server.context import Platform

T = TypeVar("T")


@dataclass(frozen=True)
class WorkspaceContext:
    name: str
    platform: Platform

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run blocking work (database, files) off the event loop on the platform's executor.

        A plain executor, not anyio's ``to_thread``: it costs less per call, which shows on
        small hot requests such as a single ``log-metric``.
        """
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.platform.executor,
                                          functools.partial(fn, *args, **kwargs))


def platform_of(request: Request) -> Platform:
    return request.app.state.platform  # type: ignore[no-any-return]


async def check_access(
        request: Request,
        workspace: Annotated[str, Path(description="The workspace's name")]) -> WorkspaceContext:
    """Resolve the workspace of the request (the ``{workspace}`` path parameter, declared here
    so every route's OpenAPI operation has it) and authorise.

    ``async`` on purpose: it runs on the event loop (no threadpool hop on every request); the
    workspace lookup hits the database only the first time a name is seen.
    """
    platform = platform_of(request)
    platform.workspaces.exists(workspace)  # raises NotFoundError for an unknown workspace
    return WorkspaceContext(name=workspace, platform=platform)
