"""promptflow's import surface served by Ember when promptflow is not installed: tool files
written for promptflow import unchanged."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ember.flows import promptflow_compat
from ember.flows.connections import StaticConnections
from ember.flows.executor import FlowExecutor
from ember.flows.loader import load_flow


def test_promptflow_is_not_installed() -> None:
    # Everything below relies on Ember serving the names, not on a real promptflow.
    proc = subprocess.run([sys.executable, "-c", "import promptflow"], capture_output=True,
                          text=True, timeout=60, check=False)
    assert proc.returncode != 0
    assert "No module named 'promptflow'" in proc.stderr


def test_tool_file_imports_in_a_fresh_process() -> None:
    script = textwrap.dedent("""
        import asyncio
        from ember.flows.connections import StaticConnections
        from ember.flows.executor import run_flow
        print(run_flow("tests/flows/flows/pyflow", {"text": "sub"}, StaticConnections({})))
        """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, cwd=Path(__file__).parents[2], check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "{'output': 'HELLO SUB', 'length': 9}"
    # Ember keeps supporting the old import: no deprecation noise on stderr
    assert "deprecated" not in proc.stderr


def test_install_serves_the_modules() -> None:
    assert promptflow_compat.install() is True
    assert promptflow_compat.install() is True   # idempotent
    import promptflow.core
    from promptflow.connections import (
        AzureContentSafetyConnection,
        AzureOpenAIConnection,
        CognitiveSearchConnection,
        CustomConnection,
        CustomStrongTypeConnection,
        FormRecognizerConnection,
        OpenAIConnection,
    )
    from promptflow.contracts.types import FilePath, PromptTemplate, Secret
    from promptflow.entities import OpenAIConnection as EntityOpenAI
    from promptflow.exceptions import UserErrorException
    from promptflow.tracing import start_trace, trace

    from ember.flows import connections

    assert OpenAIConnection is connections.OpenAIConnection is EntityOpenAI
    assert AzureOpenAIConnection is connections.AzureOpenAIConnection
    assert CustomConnection is connections.CustomConnection
    for cls in (AzureContentSafetyConnection, CognitiveSearchConnection,
                FormRecognizerConnection, CustomStrongTypeConnection):
        assert cls(api_key="k", name="n").name == "n"
    assert isinstance(PromptTemplate("x"), str) and isinstance(Secret("s"), str)
    assert FilePath("a.txt") == "a.txt"
    assert start_trace() is None
    assert trace(lambda x: x + 1)(1) == 2           # no running flow: a plain call
    from promptflow import tool
    assert tool is promptflow.core.tool
    with pytest.raises(UserErrorException):
        tool(type="nonsense")


def test_tool_decorator_bare_and_with_arguments() -> None:
    promptflow_compat.install()
    from promptflow.core import tool

    @tool
    def bare(x: int) -> int:
        return x + 1

    @tool(name="named", description="d", streaming_option_parameter="stream")
    async def with_args(x: int) -> int:
        return x * 2

    assert bare(1) == 2
    assert asyncio.run(with_args(2)) == 4
    assert with_args.__ember_tool__["name"] == "named"   # type: ignore[attr-defined]
    assert hasattr(bare, "__tool")


def test_log_metric_outside_aggregation_is_ignored(caplog: pytest.LogCaptureFixture) -> None:
    promptflow_compat.install()
    from promptflow.core import log_metric

    with caplog.at_level(logging.WARNING):
        log_metric("accuracy", 0.5)
    assert "outside an aggregation node" in caplog.text
    caplog.clear()


def test_log_metric_in_a_line_node_is_ignored(tmp_path: Path,
                                              caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "flow.dag.yaml").write_text(textwrap.dedent("""
        outputs:
          o: {reference: "${m.output}"}
        nodes:
        - name: m
          type: python
          source: {type: code, path: m.py}
        """))
    (tmp_path / "m.py").write_text(textwrap.dedent("""
        from promptflow.core import log_metric, tool


        @tool
        def m() -> int:
            log_metric("in_line", 1.0)
            return 1
        """))
    ex = FlowExecutor(load_flow(tmp_path), StaticConnections({}))

    async def both() -> dict[str, float]:
        line = await ex.run_line({})
        return (await ex.run_aggregation([line])).metrics

    with caplog.at_level(logging.WARNING):
        assert asyncio.run(both()) == {}
    assert "log_metric('in_line') called outside an aggregation node" in caplog.text
