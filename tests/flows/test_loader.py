"""flow.dag.yaml loading: the example flows load, and every malformed flow is a SpecError naming
the file, line and key. Also the ``${...}`` reference grammar."""

from __future__ import annotations

import logging
import textwrap
from pathlib import Path

import pytest

from ember.errors import SpecError
from ember.flows import references
from ember.flows.dag import MISSING
from ember.flows.loader import load_flow, validate_flow

FLOWS = Path(__file__).parent / "flows"

PY_TOOL = "from promptflow.core import tool\n\n\n@tool\ndef f(x: str = '') -> str:\n    return x\n"


def write_flow(folder: Path, yaml: str, files: dict[str, str] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "flow.dag.yaml").write_text(textwrap.dedent(yaml).lstrip())
    for name, text in (files or {"a.py": PY_TOOL}).items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    return folder


def load_error(tmp_path: Path, yaml: str, files: dict[str, str] | None = None,
               variant: str | None = None) -> SpecError:
    folder = write_flow(tmp_path / "flow", yaml, files)
    with pytest.raises(SpecError) as info:
        load_flow(folder, variant=variant)
    assert info.value.file == str(folder / "flow.dag.yaml")
    return info.value


def test_example_flow_loads() -> None:
    flow = load_flow(FLOWS / "pyflow")
    assert flow.name == "pyflow"
    assert flow.path == (FLOWS / "pyflow" / "flow.dag.yaml").resolve()
    assert [n.name for n in flow.nodes] == ["greet", "upper", "agg"]
    assert flow.inputs["text"].default == "world"
    assert flow.inputs["text"].type == "string"
    assert flow.outputs["length"].reference == "${greet.output.length}"
    assert flow.node("agg").aggregation is True
    assert flow.node("greet").inputs == {"text": "${inputs.text}"}
    assert flow.environment == {"python_requirements_txt": "requirements.txt"}
    assert flow.source_path(flow.node("upper")) == flow.folder / "upper.py"
    # the flow.dag.yaml file itself is accepted too
    assert load_flow(FLOWS / "pyflow" / "flow.dag.yaml").nodes[0].name == "greet"


def test_malformed_yaml(tmp_path: Path) -> None:
    err = load_error(tmp_path, """
        inputs:
          text: {type: string}
        nodes:
        - name: a
          type: python
            source: {type: code, path: a.py}
        """)
    assert err.line == 6
    assert "YAML syntax error" in str(err)


def test_unknown_top_level_key(tmp_path: Path) -> None:
    err = load_error(tmp_path, """
        $schema: https://azuremlschemas.azureedge.net/promptflow/latest/Flow.schema.json
        description: fine
        inputs: {}
        outputz: {}
        nodes: []
        """)
    assert (err.line, err.key) == (4, "outputz")
    assert "unknown key 'outputz'" in str(err)


def test_unknown_node_key_and_type_and_input_type(tmp_path: Path) -> None:
    err = load_error(tmp_path, """
        nodes:
        - name: a
          type: python
          source: {type: code, path: a.py}
          inptus: {}
        """)
    assert (err.line, err.key) == (5, "nodes.a.inptus")
    err = load_error(tmp_path, """
        nodes:
        - name: a
          type: pyhton
          source: {type: code, path: a.py}
        """)
    assert (err.line, err.key) == (3, "nodes.a.type")
    err = load_error(tmp_path, """
        inputs:
          x:
            type: integer
        """)
    assert (err.line, err.key) == (3, "inputs.x.type")


def test_duplicate_node_names(tmp_path: Path) -> None:
    err = load_error(tmp_path, """
        nodes:
        - name: a
          type: python
          source: {type: code, path: a.py}
        - name: a
          type: python
          source: {type: code, path: a.py}
        """)
    assert err.line == 5
    assert "duplicate node name 'a'" in str(err)


@pytest.mark.parametrize(("where", "line", "key"), [
    ("input", 6, "nodes.b.inputs.x"),
    ("activate", 8, "nodes.b.activate.when"),
])
def test_missing_node_reference(tmp_path: Path, where: str, line: int, key: str) -> None:
    ref_input = "${nope.output}" if where == "input" else "${a.output}"
    when = "${nope.output}" if where == "activate" else "${a.output}"
    err = load_error(tmp_path, f"""
        nodes:
        - name: b
          type: python
          source: {{type: code, path: a.py}}
          inputs:
            x: {ref_input}
          activate:
            when: {when}
            is: true
        - name: a
          type: python
          source: {{type: code, path: a.py}}
        """)
    assert (err.line, err.key) == (line, key)
    assert "no node 'nope'" in str(err)


def test_missing_flow_input_and_output_references(tmp_path: Path) -> None:
    err = load_error(tmp_path, """
        inputs:
          text: {type: string}
        nodes:
        - name: a
          type: python
          source: {type: code, path: a.py}
          inputs:
            x: ${inputs.txt}
        """)
    assert (err.line, err.key) == (8, "nodes.a.inputs.x")
    assert "no input 'txt'" in str(err)
    err = load_error(tmp_path, """
        outputs:
          out:
            reference: ${ghost.output}
        nodes: []
        """)
    assert (err.line, err.key) == (3, "outputs.out.reference")
    err = load_error(tmp_path, """
        outputs:
          out:
            type: string
            reference: ""
        """)
    assert err.key == "outputs.out.reference"
    assert "empty reference" in str(err)


def test_cycle_names_the_nodes(tmp_path: Path) -> None:
    err = load_error(tmp_path, """
        nodes:
        - name: start
          type: python
          source: {type: code, path: a.py}
        - name: upper
          type: python
          source: {type: code, path: a.py}
          inputs: {x: "${greet.output}", y: "${start.output}"}
        - name: greet
          type: python
          source: {type: code, path: a.py}
          inputs: {x: "${upper.output}"}
        """)
    assert "['greet', 'upper']" in str(err)
    assert "cycle" in str(err)


def test_aggregation_rules(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    err = load_error(tmp_path, """
        nodes:
        - name: agg
          type: python
          source: {type: code, path: a.py}
          aggregation: true
        - name: after
          type: python
          source: {type: code, path: a.py}
          inputs: {x: "${agg.output}"}
        """)
    assert (err.line, err.key) == (9, "nodes.after.inputs.x")
    assert "aggregation node 'agg'" in str(err)
    folder = write_flow(tmp_path / "dropped", """
        outputs:
          metric: {reference: "${agg.output}"}
        nodes:
        - name: agg
          type: python
          source: {type: code, path: a.py}
          reduce: true
        """)
    with caplog.at_level(logging.WARNING, logger="ember.flows.loader"):
        flow = load_flow(folder)
    assert flow.outputs == {}
    assert "references aggregation node 'agg'; dropped" in caplog.text


def test_missing_source_and_path_traversal(tmp_path: Path) -> None:
    err = load_error(tmp_path, """
        nodes:
        - name: a
          type: python
          source:
            type: code
            path: missing.py
        """)
    assert (err.line, err.key) == (6, "nodes.a.source.path")
    assert "not found" in str(err)
    (tmp_path / "outside.py").write_text(PY_TOOL)
    err = load_error(tmp_path, """
        nodes:
        - name: a
          type: python
          source: {type: code, path: ../outside.py}
        """)
    assert err.key == "nodes.a.source.path"
    assert "outside the flow folder" in str(err)


def test_llm_node_needs_connection_and_api(tmp_path: Path) -> None:
    err = load_error(tmp_path, """
        nodes:
        - name: chat
          type: llm
          source: {type: code, path: chat.jinja2}
          api: chat
        """, {"chat.jinja2": "user:\n{{q}}\n"})
    assert err.key == "nodes.chat.connection"
    err = load_error(tmp_path, """
        nodes:
        - name: chat
          type: llm
          source: {type: code, path: chat.jinja2}
          connection: c
        """, {"chat.jinja2": "user:\n{{q}}\n"})
    assert err.key == "nodes.chat.api"


def test_variants() -> None:
    flow = load_flow(FLOWS / "variants")
    node = flow.node("format")
    assert (node.type, node.variant_id, node.use_variants) == ("python", "variant_0", True)
    assert node.inputs["style"] == "plain"
    assert set(flow.node_variants["format"].variants) == {"variant_0", "variant_1", "variant_2"}
    chosen = load_flow(FLOWS / "variants", variant="${format.variant_2}").node("format")
    assert (chosen.variant_id, chosen.inputs["style"]) == ("variant_2", "title")


@pytest.mark.parametrize(("variant", "message"), [
    ("${format.variant_9}", "has no variant 'variant_9'"),
    ("${other.variant_1}", "node 'other' has no variants"),
    ("format.variant_1", "not of the form"),
])
def test_unknown_variant(variant: str, message: str) -> None:
    with pytest.raises(SpecError, match=message) as info:
        load_flow(FLOWS / "variants", variant=variant)
    assert info.value.key is not None and info.value.key.startswith("node_variants")


def test_additional_includes(tmp_path: Path) -> None:
    flow = load_flow(FLOWS / "includes")
    shared = (FLOWS / "shared_code").resolve()
    assert flow.includes["helper_tool.py"] == shared / "helper_tool.py"
    assert flow.includes["pkgdir"] == shared / "pkgdir"
    assert flow.includes["pkgdir/dir_tool.py"] == shared / "pkgdir" / "dir_tool.py"
    assert flow.source_path(flow.node("use_helper")) == shared / "helper_tool.py"
    err = load_error(tmp_path, """
        nodes: []
        additional_includes:
        - ../nowhere/x.py
        """)
    assert (err.line, err.key) == (3, "additional_includes[0]")


def test_legacy_flow_reference_and_validate(tmp_path: Path) -> None:
    folder = write_flow(tmp_path / "legacy", """
        inputs:
          n: {type: int}
        nodes:
        - name: a
          type: python
          source: {type: code, path: a.py}
          inputs: {n: "${flow.n}", max_tokens: abc}
        """, {"a.py": "from promptflow.core import tool\n\n\n@tool\n"
                      "def a(n: int, max_tokens: int = 1) -> int:\n    return n\n"})
    flow = load_flow(folder)
    ref = references.parse(flow.node("a").inputs["n"])
    assert ref is not None and (ref.kind, ref.name) == ("inputs", "n")
    with pytest.raises(SpecError, match="max_tokens") as info:
        validate_flow(folder)
    assert info.value.key == "nodes.a.inputs.max_tokens"
    assert info.value.line == 4


def test_flex_flow_refused(tmp_path: Path) -> None:
    (tmp_path / "flow.flex.yaml").write_text("entry: app:run\n")
    with pytest.raises(SpecError, match="flex flows"):
        load_flow(tmp_path)


def test_reference_grammar() -> None:
    assert references.parse("plain") is None
    assert references.parse("Hi ${inputs.x}") is None
    assert references.parse(5) is None
    node = references.parse("${greet}")
    assert node == references.Reference("node", "greet", (), "${greet}")
    walk = references.parse("${n.output.a.b[0]['k.1'][\"z\"]}")
    assert walk is not None and walk.path == ("a", "b", 0, "k.1", "z")
    assert references.parse("${inputs.question}") == references.Reference(
        "inputs", "question", (), "${inputs.question}")
    for bad in ("${}", "${n.inputs.x}", "${n.output[x}"):
        with pytest.raises(references.ReferenceSyntaxError):
            references.parse(bad)
    outputs = {"n": {"a": {"b": [{"k.1": {"z": 7}}]}}}
    assert walk is not None and references.resolve(walk, {}, outputs) == 7
    missing = references.parse("${n.output.a.c}")
    assert missing is not None
    with pytest.raises(references.ResolveError, match=r"node 'n' has no a\.c"):
        references.resolve(missing, {}, outputs)
    assert MISSING is not None
