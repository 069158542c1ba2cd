"""Schedules and the record of each trigger fired."""

from __future__ import annotations

import abc

from ember.entities.schedules import JobSchedule, ScheduleFire


class ScheduleStore(abc.ABC):
    @abc.abstractmethod
    def create(self, workspace: str, schedule: JobSchedule) -> JobSchedule:
        """Insert. Raises AlreadyExistsError when the name is taken in the workspace."""

    @abc.abstractmethod
    def get(self, workspace: str, name: str) -> JobSchedule:
        """Raises NotFoundError naming the schedule."""

    @abc.abstractmethod
    def list_schedules(self, workspace: str, enabled: bool | None = None) -> list[JobSchedule]:
        """By name; ``enabled`` True/False keeps only enabled/disabled ones."""

    @abc.abstractmethod
    def update(self, workspace: str, schedule: JobSchedule) -> JobSchedule:
        """Replace the spec, is_enabled and next_fire_time. Raises NotFoundError."""

    @abc.abstractmethod
    def delete(self, workspace: str, name: str) -> None:
        """Raises NotFoundError. The schedule's fire records go with it; its jobs stay."""

    @abc.abstractmethod
    def due(self, now: float) -> list[tuple[str, JobSchedule]]:
        """Enabled schedules whose next_fire_time is at or before ``now``."""

    @abc.abstractmethod
    def claim_fire(self, workspace: str, name: str, expected_next: float,
                   new_next: float | None, fire: ScheduleFire) -> bool:
        """In one transaction: move next_fire_time from ``expected_next`` to ``new_next`` and
        record ``fire``. False (and nothing changed) when another process got there first."""

    @abc.abstractmethod
    def record_fire(self, workspace: str, fire: ScheduleFire) -> bool:
        """Record a fire outside the schedule's clock (trigger now); False if that
        (schedule, fire_time) was fired already."""

    @abc.abstractmethod
    def set_fire_result(self, workspace: str, name: str, fire_time: float,
                        error: str | None) -> None:
        """Mark a fire done: its job made (``error`` None) or refused (why)."""

    @abc.abstractmethod
    def pending_fires(self) -> list[tuple[str, ScheduleFire]]:
        """(workspace, fire) of every fire not done: claimed, its job maybe never made."""

    @abc.abstractmethod
    def fires(self, workspace: str, name: str) -> list[ScheduleFire]:
        """The schedule's fires, oldest first."""
