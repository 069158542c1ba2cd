"""Trace store interface: MLflow 3 traces (summaries, spans, tags) of a workspace.

A trace belongs to one workspace; every method treats a trace of another workspace as missing.
The service decides what a trace's summary says (previews, state, token usage): the store calls
its ``summarize`` function inside the transaction that wrote the spans or the client's summary,
with every span the trace has then, so spans that arrive in several requests (the client exports
them as they end) always leave a summary that covers them all, and concurrent writers of one
trace are serialised.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence

from ember.entities.tracking import Clause, OrderKey, Page
from ember.entities.traces import TraceInfo, TraceSpan

# (the stored summary, every span of the trace) -> the summary to store. A root span (no
# parent) comes whole; the others come with their structure, times and status, and with
# ``mlflow.chat.tokenUsage`` as their only attribute: what a summary is made of, without
# reading every span's inputs and outputs again each time a span arrives.
Summarize = Callable[[TraceInfo, Sequence[TraceSpan]], TraceInfo]


class TraceStore(abc.ABC):
    @abc.abstractmethod
    def log_spans(self, workspace: str, experiment_id: str, spans: Sequence[TraceSpan],
                  summarize: Summarize) -> list[TraceInfo]:
        """Insert or replace ``spans`` (by trace and span id), all or nothing.

        A trace not yet stored is created in ``experiment_id`` (a trace already stored keeps
        its experiment). Each touched trace is re-summarised; the new summaries are returned in
        the order their traces first appear in ``spans``.
        """

    @abc.abstractmethod
    def start_trace(self, info: TraceInfo, summarize: Summarize) -> TraceInfo:
        """Record the client's summary of a trace (MLflow's StartTraceV3): its fields replace
        the stored ones, metadata and tags are merged into the stored ones. The trace is created
        when missing; then re-summarised with its stored spans. Returns the stored summary."""

    @abc.abstractmethod
    def get_trace_info(self, workspace: str, trace_id: str) -> TraceInfo:
        """Raises NotFoundError."""

    @abc.abstractmethod
    def get_trace_infos(self, workspace: str, trace_ids: Sequence[str]) -> list[TraceInfo]:
        """The summaries of those of ``trace_ids`` that exist, in the order asked."""

    @abc.abstractmethod
    def get_spans(self, workspace: str, trace_ids: Sequence[str]) -> dict[str, list[TraceSpan]]:
        """Every stored span of each trace, by start time; traces without spans are absent."""

    @abc.abstractmethod
    def search_traces(self, workspace: str, experiment_ids: Sequence[str], *,
                      clauses: Sequence[Clause], order_by: Sequence[OrderKey],
                      max_results: int, offset: int) -> Page[TraceInfo]:
        """Traces of the experiments matching every clause.

        Clause entities: ``attribute`` (trace_id, request_time, execution_duration, end_time,
        state, client_request_id, experiment_id), ``tag`` and ``metadata``. Default order:
        request_time descending, then trace id.
        """

    @abc.abstractmethod
    def set_trace_tag(self, workspace: str, trace_id: str, key: str, value: str) -> None:
        """Insert or replace a tag. Raises NotFoundError."""

    @abc.abstractmethod
    def delete_trace_tag(self, workspace: str, trace_id: str, key: str) -> None:
        """Raises NotFoundError for an unknown trace or tag."""

    @abc.abstractmethod
    def delete_traces(self, workspace: str, experiment_id: str, *,
                      trace_ids: Sequence[str] | None = None,
                      max_timestamp_ms: int | None = None,
                      max_traces: int | None = None) -> int:
        """Delete traces of one experiment (with their spans, tags and metadata): those named
        by ``trace_ids``, or the oldest ones with request_time <= ``max_timestamp_ms`` (at most
        ``max_traces``). Returns how many were deleted."""
