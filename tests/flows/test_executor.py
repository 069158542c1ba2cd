"""Running flows: lines, aggregation with log_metric, activate/bypass, variants, tool kinds
(async, generator, class, traced helpers), streaming, concurrency, connections, single nodes.
Real flow folders under ``flows/``, no mocks."""

from __future__ import annotations

import asyncio
import inspect
import os
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ember.errors import (
    InvalidInputError,
    NotFoundError,
    SpecError,
    UnsupportedError,
    UserCodeError,
)
from ember.flows.connections import StaticConnections
from ember.flows.executor import FlowExecutor, LineResult, run_flow
from ember.flows.loader import load_flow
from ember.flows.trace import Tracer
from tests.flows.openai_stub import OpenAIStub

FLOWS = Path(__file__).parent / "flows"
NO_CONNECTIONS = StaticConnections({})
CONNECTIONS = StaticConnections({
    "my_custom": {"type": "custom", "configs": {"endpoint": "http://e"},
                  "secrets": {"token": "sekret"}},
    "other_custom": {"type": "custom", "configs": {"endpoint": "http://o"},
                     "secrets": {"token": "t2"}},
})


def executor(name: str, connections: Any = NO_CONNECTIONS, **kwargs: Any) -> FlowExecutor:
    return FlowExecutor(load_flow(FLOWS / name, kwargs.pop("variant", None)), connections,
                        **kwargs)


def line(ex: FlowExecutor, inputs: dict[str, Any], number: int | None = None) -> LineResult:
    return asyncio.run(ex.run_line(inputs, number))


def test_lines_aggregation_and_metrics() -> None:
    ex = executor("pyflow")

    async def batch() -> tuple[list[LineResult], Any]:
        lines = await asyncio.gather(*(ex.run_line({"text": t}, i)
                                       for i, t in enumerate(["abc", "boom", "xy"])))
        return list(lines), await ex.run_aggregation(list(lines))

    lines, agg = asyncio.run(batch())
    assert [r.status for r in lines] == ["Completed", "Failed", "Completed"]
    assert lines[0].outputs == {"output": "HELLO ABC", "length": 9}
    assert lines[0].line_number == 0 and lines[0].inputs == {"text": "abc"}
    assert set(lines[0].node_runs) == {"greet", "upper"}
    failed = lines[1]
    assert failed.outputs == {}
    assert failed.error is not None
    assert failed.error["message"] == "Execution failure in 'greet': (ValueError) bad line"
    assert (failed.error["node"], failed.error["type"]) == ("greet", "ValueError")
    assert 'greet.py", line 7, in greet' in failed.error["traceback"]
    assert "ember/flows" not in failed.error["traceback"]
    assert failed.node_runs["greet"].status == "Failed"
    assert "upper" not in failed.node_runs
    # aggregation over the two completed lines: 9 and 8 characters
    assert agg.status == "Completed"
    assert agg.metrics == {"mean_length": 8.5, "n": 2}
    assert agg.node_runs["agg"].output == {"mean_length": 8.5, "n": 2}


def test_evaluation_flow_aggregation_chain() -> None:
    # aggregation nodes get lists of line outputs and flow inputs, and may read each other
    ex = executor("evaluation")
    rows = [("a", "A"), ("b", "x"), ("c", "c"), ("d", "d")]

    async def batch() -> Any:
        lines = [await ex.run_line({"groundtruth": g, "prediction": p}, i)
                 for i, (g, p) in enumerate(rows)]
        return await ex.run_aggregation(lines)

    agg = asyncio.run(batch())
    assert agg.status == "Completed", agg.error
    assert agg.metrics == {"accuracy": 0.75, "accuracy_pct": 75.0}
    assert agg.node_runs["report"].output == 75.0
    assert asyncio.run(ex.run_aggregation([])).metrics == {}


def test_defaults_and_run_flow_includes_aggregation() -> None:
    assert run_flow(FLOWS / "pyflow", {}, NO_CONNECTIONS) == {"output": "HELLO WORLD",
                                                               "length": 11}
    with pytest.raises(UserCodeError, match="bad line"):
        run_flow(FLOWS / "pyflow", {"text": "boom"}, NO_CONNECTIONS)


def test_bad_inputs_fail_the_line() -> None:
    ex = executor("ifelse")
    missing = line(ex, {})
    assert missing.status == "Failed" and missing.error is not None
    assert "flow input 'number' is required" in missing.error["message"]
    wrong = line(ex, {"number": "abc"}, 3)
    assert wrong.status == "Failed" and wrong.line_number == 3
    assert wrong.error is not None and "flow input 'number' of type int" in wrong.error["message"]
    assert line(ex, {"number": "4"}).inputs == {"number": 4}   # converted, as promptflow does


def test_trace_spans() -> None:
    tracer = Tracer()
    ex = executor("pyflow", tracer=tracer)
    result = line(ex, {"text": "abc"}, 5)
    spans = {s.name: s for s in tracer.spans}
    flow_span = spans["pyflow"]
    assert result.trace_id == flow_span.trace_id
    assert (flow_span.span_type, flow_span.parent_id) == ("CHAIN", None)
    assert flow_span.inputs == {"text": "abc"}
    assert flow_span.outputs == {"output": "HELLO ABC", "length": 9}
    for name in ("greet", "upper"):
        assert spans[name].span_type == "TOOL"
        assert spans[name].parent_id == flow_span.span_id
        assert spans[name].attributes["node_name"] == name
    assert spans["upper"].inputs == {"greeting": "Hello abc"}
    failed = line(ex, {"text": "boom"})
    greet = next(s for s in tracer.spans if s.trace_id == failed.trace_id and s.name == "greet")
    assert greet.status == "ERROR"


def test_if_else_activate() -> None:
    ex = executor("ifelse")
    even = line(ex, {"number": 4})
    assert even.outputs == {"result": "4 is even", "even_branch": "4 is even"}
    assert even.node_runs["on_odd"].status == "Bypassed"
    odd = line(ex, {"number": 7})
    assert odd.outputs == {"result": "7 is odd", "even_branch": None}
    assert odd.node_runs["on_even"].status == "Bypassed"
    assert odd.node_runs["merge"].status == "Completed"


@pytest.mark.parametrize(("kind", "answer", "ran"), [
    ("Coffee", "grinding coffee", "coffee"),
    ("tea", "brewing tea", "tea"),
    ("water", "pouring water", "water"),
    ("milk", None, None),
])
def test_switch(kind: str, answer: str | None, ran: str | None) -> None:
    result = line(executor("switch"), {"kind": kind})
    assert result.status == "Completed"
    assert result.outputs == {"answer": answer}
    statuses = {n: r.status for n, r in result.node_runs.items()}
    for branch in ("tea", "coffee", "water"):
        assert statuses[branch] == ("Completed" if branch == ran else "Bypassed")
    # a node fed only by a bypassed node is bypassed; so is one fed only by bypassed nodes
    assert statuses["after_tea"] == ("Completed" if ran == "tea" else "Bypassed")
    assert statuses["pick"] == ("Bypassed" if ran is None else "Completed")


def test_variants_run() -> None:
    assert line(executor("variants"), {"text": "ab cd"}).outputs == {"output": "ab cd"}
    ex = executor("variants", variant="${format.variant_1}")
    assert line(ex, {"text": "ab cd"}).outputs == {"output": "AB CD"}
    ex = executor("variants", variant="${format.variant_2}")   # "2" converted to int
    assert line(ex, {"text": "ab cd"}).outputs == {"output": "Ab Cd Ab Cd"}


def test_tool_kinds() -> None:
    tracer = Tracer()
    result = line(executor("kinds", tracer=tracer), {"text": "ab"})
    assert result.status == "Completed", result.error
    assert result.outputs == {"shout": "AB!", "pieces": "ab0;ab1;", "counted": 2,
                              "prefixed": ">> AB", "traced": "ba"}
    spans = {s.name: s for s in tracer.spans}
    helper = spans["helper"]
    assert helper.parent_id == spans["traced"].span_id
    assert (helper.inputs, helper.outputs) == ({"text": "ab"}, "ba")


def test_class_tool_instance_is_made_once(tmp_path: Path) -> None:
    ex = executor("kinds")
    line(ex, {"text": "a"})
    first = ex.prepared["prefix"].instance
    assert line(ex, {"text": "b"}).outputs["prefixed"] == ">> B"
    assert ex.prepared["prefix"].instance is first
    folder = write(tmp_path / "f", """
        inputs: {p: {type: string}}
        nodes:
        - name: prefix
          type: python
          source: {type: code, path: class_tool.py}
          inputs: {prefix: "${inputs.p}", text: x}
        """, {"class_tool.py": (FLOWS / "kinds" / "class_tool.py").read_text()})
    with pytest.raises(SpecError, match="class __init__, which takes literals"):
        FlowExecutor(load_flow(folder), NO_CONNECTIONS)


def test_streaming() -> None:
    joined = line(executor("streamflow"), {"n": 2})
    assert joined.outputs == {"answer": "w0 w1 ", "async_answer": "a0 a1 "}
    streamed = line(executor("streamflow", stream=True), {"n": 3})
    answer, async_answer = streamed.outputs["answer"], streamed.outputs["async_answer"]
    assert inspect.isgenerator(answer)
    assert list(answer) == ["w0 ", "w1 ", "w2 "]

    async def drain() -> list[str]:
        return [piece async for piece in async_answer]

    assert asyncio.run(drain()) == ["a0 ", "a1 ", "a2 "]
    # a generator also read by another node is joined even when streaming
    kinds = line(executor("kinds", stream=True), {"text": "x"})
    assert kinds.outputs["pieces"] == "x0;x1;"


def test_independent_nodes_run_concurrently() -> None:
    # meet.py's barrier only opens when both nodes wait at the same time.
    result = line(executor("concurrent"), {})
    assert result.status == "Completed", result.error
    assert result.outputs == {"both": ["left", "right"]}


def test_additional_includes_run() -> None:
    assert run_flow(FLOWS / "includes", {}, NO_CONNECTIONS) == {
        "out": "hi from an include", "nested": "[hi from an include]"}


def test_connections_environment_and_literal_conversion(monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    for name in ("EMBER_TEST_FLOW_PLAIN", "EMBER_TEST_FLOW_TOKEN"):
        monkeypatch.setenv(name, "before")   # restored after the test
    result = line(executor("conn", CONNECTIONS), {})
    assert result.outputs == {"answer": "http://e|sekret|q|512", "env": "sekret,plain-value"}
    assert os.environ["EMBER_TEST_FLOW_PLAIN"] == "plain-value"
    ex = executor("conn", CONNECTIONS, environment_variables={
        "EMBER_TEST_FLOW_PLAIN": "from-run", "EMBER_TEST_FLOW_TOKEN": "${other_custom.token}"})
    assert line(ex, {}).outputs["env"] == "t2,from-run"
    other = line(executor("conn", CONNECTIONS, overrides={"ask": {"conn": "other_custom"}}), {})
    assert other.outputs["answer"] == "http://o|t2|q|512"
    with pytest.raises(NotFoundError, match="connection 'my_custom' not found"):
        executor("conn", NO_CONNECTIONS)
    with pytest.raises(InvalidInputError, match="names node 'nope'"):
        executor("conn", CONNECTIONS, overrides={"nope": {"connection": "x"}})
    missing = line(executor("conn", StaticConnections(
        {"my_custom": {"type": "custom", "secrets": {"token": "x"}}})), {})
    assert missing.status == "Failed" and missing.error is not None
    assert "no key 'endpoint'" in missing.error["message"]


def test_run_node() -> None:
    ex = executor("pyflow")
    assert asyncio.run(ex.run_node("upper", {"greeting": "hey"})) == "HEY"
    assert asyncio.run(ex.run_node("upper", {"greet.output": {"greeting": "yo"}})) == "YO"
    assert asyncio.run(ex.run_node("greet", {"text": "z"})) == {"greeting": "Hello z",
                                                                 "length": 7}
    assert asyncio.run(ex.run_node("agg", {"lengths": [1, 3]})) == {"mean_length": 2.0, "n": 2}
    with pytest.raises(UserCodeError, match="bad line"):
        asyncio.run(ex.run_node("greet", {"text": "boom"}))
    with pytest.raises(InvalidInputError, match="reads"):
        asyncio.run(ex.run_node("upper", {}))


def write(folder: Path, yaml: str, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True)
    (folder / "flow.dag.yaml").write_text(textwrap.dedent(yaml).lstrip())
    for name, text in files.items():
        (folder / name).write_text(textwrap.dedent(text).lstrip())
    return folder


NODE = """
    nodes:
    - name: a
      type: python
      source: {type: code, path: a.py}
      inputs: {x: "1"}
    """


@pytest.mark.parametrize(("code", "error", "message"), [
    ("def a(x: int) -> int:\n    return x\n", SpecError, "has no @tool function"),
    (("from promptflow.core import tool\n@tool\ndef a(x: int):\n    return x\n"
      "@tool\ndef b(x: int):\n    return x\n"), SpecError, r"several @tool functions \(a, b\)"),
    ("import not_a_module_anywhere\n", UserCodeError, "does not import"),
    ("from promptflow.core import tool\n@tool\ndef a(y: int):\n    return y\n", SpecError,
     "input 'x' is not a parameter"),
])
def test_tool_problems_at_creation(tmp_path: Path, code: str, error: type[Exception],
                                   message: str) -> None:
    folder = write(tmp_path / "f", NODE, {"a.py": code})
    with pytest.raises(error, match=message):
        FlowExecutor(load_flow(folder), NO_CONNECTIONS)


def test_unsupported_package_tool(tmp_path: Path) -> None:
    folder = write(tmp_path / "f", """
        nodes:
        - name: search
          type: python
          source: {type: package, tool: promptflow.tools.serpapi.SerpAPI.search}
          inputs: {query: x}
        """, {})
    with pytest.raises(UnsupportedError, match="promptflow.tools.serpapi.SerpAPI.search"):
        FlowExecutor(load_flow(folder), NO_CONNECTIONS)


def test_output_path_missing_fails_line(tmp_path: Path) -> None:
    folder = write(tmp_path / "f", """
        outputs:
          o: {reference: "${a.output.missing}"}
        nodes:
        - name: a
          type: python
          source: {type: code, path: a.py}
        """, {"a.py": "from promptflow.core import tool\n@tool\ndef a():\n    return {'k': 1}\n"})
    result = line(FlowExecutor(load_flow(folder), NO_CONNECTIONS), {})
    assert result.status == "Failed" and result.error is not None
    assert "node 'a' has no missing" in result.error["message"]


# ---- llm, prompt and package-tool nodes through the executor (the OpenAI-compatible stub) ----

@pytest.fixture(scope="module")
def stub() -> Iterator[OpenAIStub]:
    with OpenAIStub() as server:
        yield server


def openai_connections(stub: OpenAIStub) -> StaticConnections:
    return StaticConnections({"open_ai_connection": {
        "type": "open_ai", "api_key": "sk-test", "base_url": stub.url + "/v1"}})


def test_chat_flow(stub: OpenAIStub) -> None:
    stub.requests.clear()
    tracer = Tracer()
    history = [{"inputs": {"question": "hi"}, "outputs": {"answer": "hello"}}]
    outputs = run_flow(FLOWS / "chat", {"question": "how are you", "chat_history": history},
                       openai_connections(stub), tracer=tracer)
    assert outputs == {"answer": "echo: how are you"}
    body = stub.requests[0].body
    assert body["messages"] == [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"},
        {"role": "user", "content": "how are you"}]
    assert (body["max_tokens"], body["temperature"]) == (256, 0.7)
    flow_span = next(s for s in tracer.spans if s.span_type == "CHAIN")
    node_span = next(s for s in tracer.spans if s.span_type == "LLM" and s.name == "chat")
    assert node_span.parent_id == flow_span.span_id
    assert node_span.attributes["node_name"] == "chat"
    llm_call = [s for s in tracer.spans if s.parent_id == node_span.span_id]
    assert llm_call and llm_call[0].attributes["llm.usage.total_tokens"] > 0


def test_chat_flow_streams(stub: OpenAIStub) -> None:
    ex = FlowExecutor(load_flow(FLOWS / "chat"), openai_connections(stub), stream=True)
    result = ex.run_line_sync({"question": "one two three"})
    answer = result.outputs["answer"]
    assert not isinstance(answer, str)
    assert "".join(answer) == "echo: one two three"


def test_prompt_node_feeds_python_node() -> None:
    tracer = Tracer()
    outputs = run_flow(FLOWS / "std", {"text": "Python Hello World!"}, NO_CONNECTIONS,
                       tracer=tracer)
    assert outputs == {"output_prompt": "Prompt: Write a simple Python Hello World! program "
                                        "that displays the greeting message."}
    assert {s.name: s.span_type for s in tracer.spans}["hello_prompt"] == "PARSER"


def test_package_tools(stub: OpenAIStub) -> None:
    stub.requests.clear()
    outputs = run_flow(FLOWS / "pkgtools", {"q": "short"}, openai_connections(stub))
    assert outputs == {"answer": "echo: short", "size": 4}
    chat = next(r for r in stub.requests if r.path.endswith("/chat/completions"))
    assert chat.body["messages"] == [{"role": "system", "content": "terse"},
                                     {"role": "user", "content": "short"}]
    assert chat.body["model"] == "gpt-4o-mini"


def test_union_connections_optional_and_kwargs(tmp_path: Path) -> None:
    folder = write(tmp_path / "f", """
        outputs:
          o: {reference: "${f.output}"}
        nodes:
        - name: f
          type: python
          source: {type: code, path: f.py}
          inputs: {conn: aoai, n: "3", flag: "false", extra_thing: "x", label: ""}
        """, {"f.py": """
        from typing import Optional, Union

        from promptflow.connections import AzureOpenAIConnection, OpenAIConnection
        from promptflow.core import tool


        @tool
        def f(conn: Union[OpenAIConnection, AzureOpenAIConnection], n: Optional[int] = None,
              flag: bool = True, label: str = "default", **kwargs) -> dict:
            return {"conn": type(conn).__name__, "base": conn.api_base, "n": n, "flag": flag,
                    "label": label, "extra": kwargs}
        """})
    connections = StaticConnections({"aoai": {"type": "azure_open_ai", "api_key": "k",
                                              "api_base": "http://aoai"}})
    assert run_flow(folder, {}, connections) == {"o": {
        "conn": "AzureOpenAIConnection", "base": "http://aoai", "n": 3, "flag": False,
        "label": "default", "extra": {"extra_thing": "x"}}}   # "" left the default


def test_activate_decides_alone(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # promptflow: a node with activate runs when its condition holds, even if every node its
    # inputs read was bypassed; such an input without a default gets None (with a warning).
    folder = write(tmp_path / "f", """
        outputs:
          o: {reference: "${after.output}"}
        nodes:
        - name: gate
          type: python
          source: {type: code, path: gate.py}
        - name: skipped
          type: python
          source: {type: code, path: echo.py}
          inputs: {x: "never"}
          activate: {when: "${gate.output}", is: false}
        - name: after
          type: python
          source: {type: code, path: echo.py}
          inputs: {x: "${skipped.output}"}
          activate: {when: "${gate.output}", is: true}
        """, {"gate.py": "from promptflow.core import tool\n@tool\ndef gate():\n    return True\n",
              "echo.py": "from promptflow.core import tool\n@tool\ndef echo(x):\n"
                         "    return repr(x)\n"})
    with caplog.at_level("WARNING", logger="ember.flows.executor"):
        result = line(FlowExecutor(load_flow(folder), NO_CONNECTIONS), {})
    assert result.node_runs["skipped"].status == "Bypassed"
    assert result.outputs == {"o": "None"}
    assert "reads bypassed node 'skipped'" in caplog.text


def test_custom_strong_type_connection(tmp_path: Path) -> None:
    folder = write(tmp_path / "f", """
        outputs:
          o: {reference: "${f.output}"}
        nodes:
        - name: f
          type: python
          source: {type: code, path: f.py}
          inputs: {conn: my_custom}
        """, {"f.py": """
        from promptflow.connections import CustomStrongTypeConnection
        from promptflow.contracts.types import Secret
        from promptflow.core import tool


        class MyConnection(CustomStrongTypeConnection):
            token: Secret
            region: str = "north"


        @tool
        def f(conn: MyConnection) -> list:
            return [type(conn).__name__, isinstance(conn, MyConnection), conn.token,
                    conn.endpoint, conn.region]
        """})
    assert run_flow(folder, {}, CONNECTIONS) == {
        "o": ["MyConnection", True, "sekret", "http://e", "north"]}
