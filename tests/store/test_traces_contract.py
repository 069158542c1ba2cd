"""The TraceStore contract on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence

import pytest

from ember.entities.traces import TraceInfo, TraceSpan, TraceState
from ember.entities.tracking import Clause, OrderKey
from ember.entities.workspaces import Workspace
from ember.errors import NotFoundError
from ember.store.sql.store import SqlStore

WS, OTHER = "w1", "w2"


def _span(trace: str, span: str, parent: str | None = None, start: int = 1_000_000_000,
          status: str = "OK", **attributes: str) -> TraceSpan:
    return TraceSpan(trace_id=f"tr-{trace}", span_id=span, parent_span_id=parent,
                     name=f"span-{span}", start_time_ns=start, end_time_ns=start + 5_000_000,
                     span_type="CHAIN", status=status, status_message="m", kind=1,
                     attributes=dict(attributes),
                     events=[{"name": "e", "time_unix_nano": start, "attributes": {"a": 1}}])


def summarize(info: TraceInfo, spans: Sequence[TraceSpan]) -> TraceInfo:
    """A stand-in for the service's rules: counts the spans, OK once the root is in."""
    root = [s for s in spans if s.parent_span_id is None]
    return dataclasses.replace(
        info, request_time=min(s.start_time_ns for s in spans) // 1_000_000 if spans
        else info.request_time,
        execution_duration=5 if spans and info.execution_duration is None
        else info.execution_duration,
        state=(TraceState.ERROR if root[0].status == "ERROR" else TraceState.OK) if root
        else info.state,
        metadata={**info.metadata, "spans": str(len(spans))},
        tags={**info.tags, "name": root[0].name} if root else dict(info.tags))


class TestTraceStoreContract:
    @pytest.fixture
    def store(self, sql_store: SqlStore) -> SqlStore:
        return sql_store   # SQLite and PostgreSQL (tests/conftest.py)

    @pytest.fixture
    def exps(self, store: SqlStore) -> dict[str, str]:
        for name in (WS, OTHER):
            store.workspaces.create(Workspace(name=name, creation_time=time.time()))
        return {key: store.tracking.create_experiment(ws, key, artifact_location=None, tags={},
                                                      creation_time=1)
                for key, ws in (("a", WS), ("b", WS), ("o", OTHER))}

    def test_spans_in_several_batches_make_one_summary(self, store: SqlStore,
                                                       exps: dict[str, str]) -> None:
        t = store.traces
        child = _span("1", "c1", parent="r1", start=2_000_000_000)
        infos = t.log_spans(WS, exps["a"], [child], summarize)
        assert [(i.trace_id, i.state, i.metadata) for i in infos] == [
            ("tr-1", TraceState.IN_PROGRESS, {"spans": "1"})]
        infos = t.log_spans(WS, exps["b"], [_span("2", "r2"), _span("1", "r1", start=1_500_000_000,
                                                                     **{"k": '"v"'})], summarize)
        assert [i.trace_id for i in infos] == ["tr-2", "tr-1"]   # as first seen in the batch
        got = t.get_trace_info(WS, "tr-1")
        # the trace keeps its first experiment; the summary covers both batches
        assert (got.experiment_id, got.state, got.request_time, got.metadata, got.tags) == (
            exps["a"], TraceState.OK, 1500, {"spans": "2"}, {"name": "span-r1"})
        spans = t.get_spans(WS, ["tr-1", "tr-2", "tr-none"])
        assert [s.span_id for s in spans["tr-1"]] == ["r1", "c1"]   # by start time
        assert spans["tr-1"][0] == _span("1", "r1", start=1_500_000_000, **{"k": '"v"'})
        assert set(spans) == {"tr-1", "tr-2"}
        # a span sent again replaces the stored one
        t.log_spans(WS, exps["a"], [dataclasses.replace(child, name="renamed")], summarize)
        assert [s.name for s in t.get_spans(WS, ["tr-1"])["tr-1"]] == ["span-r1", "renamed"]
        assert t.get_trace_info(WS, "tr-1").metadata == {"spans": "2"}

    def test_a_batch_is_all_or_nothing(self, store: SqlStore, exps: dict[str, str]) -> None:
        def failing(info: TraceInfo, spans: Sequence[TraceSpan]) -> TraceInfo:
            if info.trace_id == "tr-9":
                raise RuntimeError("no")
            return summarize(info, spans)

        with pytest.raises(RuntimeError):
            store.traces.log_spans(WS, exps["a"], [_span("1", "r1"), _span("9", "r9")], failing)
        assert store.traces.get_trace_infos(WS, ["tr-1", "tr-9"]) == []
        assert store.traces.get_spans(WS, ["tr-1", "tr-9"]) == {}

    def test_start_trace_merges_the_clients_summary(self, store: SqlStore,
                                                    exps: dict[str, str]) -> None:
        t = store.traces
        t.log_spans(WS, exps["a"], [_span("1", "r1")], summarize)
        t.set_trace_tag(WS, "tr-1", "user", "kept")
        info = TraceInfo(trace_id="tr-1", workspace=WS, experiment_id=exps["b"],
                         request_time=7, execution_duration=3, state=TraceState.ERROR,
                         request_preview="q", response_preview="a", client_request_id="c",
                         metadata={"m": "1"}, tags={"name": "client"})
        got = t.start_trace(info, summarize)
        assert got == t.get_trace_info(WS, "tr-1")
        assert (got.experiment_id, got.execution_duration, got.state, got.request_preview,
                got.response_preview, got.client_request_id) == (
            exps["a"], 3, TraceState.OK, "q", "a", "c")   # (summarize moved state to OK)
        assert got.metadata == {"m": "1", "spans": "1"}
        assert got.tags == {"user": "kept", "name": "span-r1"}
        # a summary for a trace with no spans yet creates it
        fresh = t.start_trace(dataclasses.replace(info, trace_id="tr-2", tags={}), summarize)
        assert (fresh.experiment_id, fresh.request_time, fresh.metadata) == (
            exps["b"], 7, {"m": "1", "spans": "0"})

    def test_search_filters_orders_and_pages(self, store: SqlStore,
                                             exps: dict[str, str]) -> None:
        t = store.traces
        for n in range(5):
            t.log_spans(WS, exps["a"], [_span(str(n), f"s{n}", start=(n + 1) * 1_000_000_000,
                                              status="ERROR" if n == 3 else "OK")], summarize)
            if n % 2:
                t.set_trace_tag(WS, f"tr-{n}", "odd", "yes")
        t.log_spans(WS, exps["b"], [_span("b", "sb")], summarize)
        t.log_spans(OTHER, exps["o"], [_span("o", "so")], summarize)

        def ids(*clauses: Clause, order: Sequence[OrderKey] = (), exp: Sequence[str] = ("a",),
                ws: str = WS, max_results: int = 100, offset: int = 0) -> list[str]:
            page = t.search_traces(ws, [exps[e] for e in exp], clauses=clauses,
                                   order_by=order, max_results=max_results, offset=offset)
            return [i.trace_id for i in page.items]

        assert ids() == ["tr-4", "tr-3", "tr-2", "tr-1", "tr-0"]
        assert ids(exp=("a", "b"))[0] == "tr-4" and len(ids(exp=("a", "b"))) == 6
        assert ids(exp=("o",)) == []                     # another workspace's experiment
        assert ids(exp=("o",), ws=OTHER) == ["tr-o"]
        assert ids(Clause("tag", "odd", "=", "yes")) == ["tr-3", "tr-1"]
        assert ids(Clause("tag", "odd", "IS_NULL", None)) == ["tr-4", "tr-2", "tr-0"]
        assert ids(Clause("metadata", "spans", "=", "1"), Clause("attribute", "state", "=",
                                                                 "OK")) == [
            "tr-4", "tr-2", "tr-1", "tr-0"]
        assert ids(Clause("attribute", "request_time", ">=", 3000.0),
                   Clause("attribute", "trace_id", "!=", "tr-4")) == ["tr-3", "tr-2"]
        assert ids(Clause("attribute", "end_time", "<", 2000.0)) == ["tr-0"]
        assert ids(order=[OrderKey("attribute", "request_time", True)]) == [
            "tr-0", "tr-1", "tr-2", "tr-3", "tr-4"]
        assert ids(order=[OrderKey("tag", "odd", True)])[:2] == ["tr-3", "tr-1"]
        page = t.search_traces(WS, [exps["a"]], clauses=[], order_by=[], max_results=2,
                               offset=2)
        assert ([i.trace_id for i in page.items], page.next_offset) == (["tr-2", "tr-1"], 4)
        last = t.search_traces(WS, [exps["a"]], clauses=[], order_by=[], max_results=2,
                               offset=4)
        assert ([i.trace_id for i in last.items], last.next_offset) == (["tr-0"], None)

    def test_tags_and_deletion(self, store: SqlStore, exps: dict[str, str]) -> None:
        t = store.traces
        for n in range(4):
            t.log_spans(WS, exps["a"], [_span(str(n), "s", start=(n + 1) * 1_000_000_000)],
                        summarize)
        t.set_trace_tag(WS, "tr-0", "k", "1")
        t.set_trace_tag(WS, "tr-0", "k", "2")
        assert t.get_trace_info(WS, "tr-0").tags["k"] == "2"
        t.delete_trace_tag(WS, "tr-0", "k")
        assert "k" not in t.get_trace_info(WS, "tr-0").tags
        with pytest.raises(NotFoundError, match="'k'"):
            t.delete_trace_tag(WS, "tr-0", "k")
        for call in (lambda: t.set_trace_tag(OTHER, "tr-0", "k", "v"),
                     lambda: t.delete_trace_tag(OTHER, "tr-0", "name"),
                     lambda: t.get_trace_info(OTHER, "tr-0")):
            with pytest.raises(NotFoundError, match="tr-0"):
                call()
        assert t.get_trace_infos(OTHER, ["tr-0"]) == [] and t.get_spans(OTHER, ["tr-0"]) == {}

        assert t.delete_traces(WS, exps["b"], trace_ids=["tr-0"]) == 0   # not its experiment
        assert t.delete_traces(WS, exps["a"], trace_ids=["tr-0", "tr-x"]) == 1
        assert t.delete_traces(WS, exps["a"], max_timestamp_ms=4000, max_traces=1) == 1
        assert [i.trace_id for i in t.get_trace_infos(WS, ["tr-1", "tr-2", "tr-3"])] == [
            "tr-2", "tr-3"]
        assert t.delete_traces(WS, exps["a"], max_timestamp_ms=4000) == 2
        assert t.get_spans(WS, ["tr-1", "tr-2", "tr-3"]) == {}
        # a deleted trace's id starts afresh
        t.log_spans(WS, exps["a"], [_span("0", "again")], summarize)
        assert t.get_trace_info(WS, "tr-0").tags == {"name": "span-again"}

    def test_the_same_trace_id_in_two_workspaces_is_two_traces(
            self, store: SqlStore, exps: dict[str, str]) -> None:
        t = store.traces
        t.log_spans(WS, exps["a"], [_span("1", "r")], summarize)
        t.log_spans(OTHER, exps["o"], [_span("1", "r"), _span("1", "x", parent="r")], summarize)
        assert t.get_trace_info(WS, "tr-1").metadata == {"spans": "1"}
        assert t.get_trace_info(OTHER, "tr-1").metadata == {"spans": "2"}
        assert t.get_trace_info(OTHER, "tr-1").experiment_id == exps["o"]

    def test_summarize_sees_the_root_whole_and_the_others_token_usage_only(
            self, store: SqlStore, exps: dict[str, str]) -> None:
        seen: list[Sequence[TraceSpan]] = []

        def capture(info: TraceInfo, spans: Sequence[TraceSpan]) -> TraceInfo:
            seen.append(spans)
            return summarize(info, spans)

        usage = '{"input_tokens": 1, "output_tokens": 2, "total_tokens": 3}'
        root = _span("1", "r", **{"mlflow.spanInputs": '{"q": 1}'})
        child = _span("1", "c", parent="r", start=2_000_000_000,
                      **{"mlflow.chat.tokenUsage": usage, "mlflow.spanInputs": '"big"'})
        # A trace's first batch is summarised from itself; a later batch of the same trace
        # re-reads what is stored, the non-root spans light.
        store.traces.log_spans(WS, exps["a"], [root], capture)
        assert seen[-1] == [root]
        store.traces.log_spans(WS, exps["a"], [child, _span("1", "d", parent="r")], capture)
        by_id = {s.span_id: s for s in seen[-1]}
        assert by_id["r"] == root
        assert by_id["c"].attributes == {"mlflow.chat.tokenUsage": usage}
        assert (by_id["c"].parent_span_id, by_id["c"].start_time_ns, by_id["c"].end_time_ns,
                by_id["c"].status, by_id["c"].name) == ("r", 2_000_000_000, 2_005_000_000, "OK",
                                                        "span-c")
        assert by_id["d"].attributes == {}
        # reads give every span whole
        assert {s.span_id: s for s in store.traces.get_spans(WS, ["tr-1"])["tr-1"]}["c"] == child

    def test_concurrent_batches_of_one_trace_leave_a_summary_of_them_all(
            self, store: SqlStore, exps: dict[str, str]) -> None:
        from concurrent.futures import ThreadPoolExecutor

        batches = [[_span("1", f"{b}-{i}", parent="r", start=(b * 10 + i + 2) * 1_000_000)
                    for i in range(5)] for b in range(8)] + [[_span("1", "r")]]
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(lambda batch: store.traces.log_spans(WS, exps["a"], batch, summarize),
                          batches))
        info = store.traces.get_trace_info(WS, "tr-1")
        assert (info.metadata, info.state) == ({"spans": "41"}, TraceState.OK)
        assert len(store.traces.get_spans(WS, ["tr-1"])["tr-1"]) == 41
