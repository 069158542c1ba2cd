from __future__ import annotations

import builtins

import abc
from collections.abc import Iterable
from typing import Any

from ember.entities.jobs import Job, JobQuery


class JobStore(abc.ABC):
    @abc.abstractmethod
    def create(self, workspace: str, job: Job) -> Job:
        """Insert a job with its first status change. Raises AlreadyExistsError."""

    @abc.abstractmethod
    def name_taken(self, name: str) -> bool:
        """Whether a job of that name exists in any workspace (job names are MLflow run ids,
        unique across the server)."""

    @abc.abstractmethod
    def get(self, workspace: str, name: str, *, with_history: bool = True) -> Job:
        """Raises NotFoundError. ``with_history=False`` leaves ``status_history`` empty
        (cheaper, for the orchestrator's frequent reads)."""

    @abc.abstractmethod
    def list(
        self,
        workspace: str,
        *,
        parent_job_name: str | None = None,
        statuses: Iterable[str] | None = None,
        archived: bool | None = None,
        max_results: int = 100,
        with_history: bool = True,
    ) -> builtins.list[Job]:
        """Newest first (``with_history`` as for :meth:`get`). ``archived``: None for every
        job, False for the jobs not archived, True for the archived ones only."""

    @abc.abstractmethod
    def search(self, workspace: str, query: JobQuery, *, with_history: bool = True,
               count: bool = False) -> tuple[builtins.list[Job], int | None]:
        """One page of the jobs ``query`` matches, in its order, and (with ``count``) how many
        match in all (else None)."""

    @abc.abstractmethod
    def child_statuses(self, workspace: str, parent_job_name: str) -> dict[str, str]:
        """``{child job name: status}`` for every child of ``parent_job_name`` (cheap: no
        definitions are read)."""

    @abc.abstractmethod
    def get_status(self, workspace: str, name: str) -> str:
        """The job's status alone. Raises NotFoundError."""

    @abc.abstractmethod
    def list_in_status(self, statuses: Iterable[str], *, with_history: bool = True
                       ) -> builtins.list[tuple[str, Job]]:
        """(workspace, job) for every job in one of ``statuses``, oldest first (all workspaces;
        ``with_history`` as for :meth:`get`)."""

    @abc.abstractmethod
    def transition(
        self,
        workspace: str,
        name: str,
        new_status: str,
        *,
        allowed_from: Iterable[str],
        time: float,
        reason: str = "",
        error: str | None = None,
    ) -> bool:
        """Atomically move to ``new_status`` if the job is in one of ``allowed_from``.

        Records the status change, start_time (on Running) and end_time (on terminal).
        Returns False, changing nothing, when the job was in another status.
        """

    @abc.abstractmethod
    def update(self, workspace: str, job: Job) -> None:
        """Rewrite the job's definition fields (outputs, properties, ...); status and times are
        left alone (they only change through :meth:`transition`), and so are the fields the
        user edits (display name, description, tags: :meth:`update_metadata`) and
        ``is_archived`` (:meth:`set_archived`): the engine writes from a copy it read earlier,
        which must not undo an edit made meanwhile. Raises NotFoundError."""

    @abc.abstractmethod
    def update_metadata(self, workspace: str, name: str, *, display_name: str | None = None,
                        description: str | None = None,
                        tags: dict[str, str] | None = None) -> None:
        """Set the fields given (not None), atomically; ``tags`` replaces the whole mapping.
        Raises NotFoundError."""

    @abc.abstractmethod
    def set_archived(self, workspace: str, names: Iterable[str], archived: bool) -> None:
        """Set ``is_archived`` on every job of ``names``, in one transaction. Raises
        NotFoundError, changing nothing, when one of them does not exist."""

    @abc.abstractmethod
    def delete(self, workspace: str, names: Iterable[str], *, only_in: Iterable[str]) -> bool:
        """Delete the jobs of ``names`` and their status histories, all or none: returns False,
        deleting nothing, when one of them is missing or not in a status of ``only_in`` (so a
        job that moved on meanwhile is never deleted)."""

    @abc.abstractmethod
    def find_reusable(self, workspace: str, reuse_key: str) -> Job | None:
        """The most recently created Completed job with ``reuse_key``, or None (its
        ``status_history`` is not read)."""

    @abc.abstractmethod
    def set_runner(self, workspace: str, name: str, runner: dict[str, Any]) -> None:
        """Record the runner's process facts (pid, create time, work dir) for reattachment."""
