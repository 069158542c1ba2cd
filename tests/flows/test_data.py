"""A batch run's data files and column mapping: every bad file names the file and the line."""

from __future__ import annotations

from pathlib import Path

import pytest

from ember.errors import InvalidInputError
from ember.flows import data
from ember.flows.dag import Flow, FlowInput


def flow(**inputs: FlowInput) -> Flow:
    return Flow(path=Path("/f/flow.dag.yaml"), inputs=dict(inputs))


def test_jsonl_rows_skip_blank_lines(tmp_path: Path) -> None:
    f = tmp_path / "d.jsonl"
    f.write_text('{"a": 1}\n\n{"a": 2}\n')
    assert data.read_rows(f) == [{"a": 1}, {"a": 2}]


def test_bad_json_names_file_and_line(tmp_path: Path) -> None:
    f = tmp_path / "d.jsonl"
    f.write_text("".join(f'{{"text": "line{i}"}}\n' for i in range(6)) + '{"text": oops}\n')
    with pytest.raises(InvalidInputError, match=r"d\.jsonl:7: not valid JSON"):
        data.read_rows(f)


def test_a_line_that_is_not_an_object(tmp_path: Path) -> None:
    f = tmp_path / "d.jsonl"
    f.write_text('{"a": 1}\n[1, 2]\n')
    with pytest.raises(InvalidInputError, match=r":2: a line must be a JSON object, not list"):
        data.read_rows(f)


def test_non_utf8_names_the_line(tmp_path: Path) -> None:
    f = tmp_path / "d.jsonl"
    f.write_bytes(b'{"a": "x"}\n{"a": "\xff"}\n')
    with pytest.raises(InvalidInputError, match=r"d\.jsonl:2: not UTF-8 \(byte 0xff\)"):
        data.read_rows(f)


def test_csv_tsv_and_json_list(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_text("question,answer\nq1,a1\n\"q, 2\",a2\n")
    assert data.read_rows(tmp_path / "d.csv") == [{"question": "q1", "answer": "a1"},
                                                  {"question": "q, 2", "answer": "a2"}]
    (tmp_path / "d.tsv").write_text("a\tb\n1\t2\n")
    assert data.read_rows(tmp_path / "d.tsv") == [{"a": "1", "b": "2"}]
    (tmp_path / "d.json").write_text('[{"a": 1}, {"a": 2}]')
    assert data.read_rows(tmp_path / "d.json") == [{"a": 1}, {"a": 2}]


def test_csv_row_with_too_many_fields(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_text("a,b\n1,2\n1,2,3\n")
    with pytest.raises(InvalidInputError, match=r"d\.csv:3: more fields than the header's 2"):
        data.read_rows(tmp_path / "d.csv")


def test_folder_needs_exactly_one_data_file(tmp_path: Path) -> None:
    (tmp_path / "one.jsonl").write_text('{"a": 1}\n')
    assert data.read_rows(tmp_path) == [{"a": 1}]
    (tmp_path / "two.csv").write_text("a\n1\n")
    with pytest.raises(InvalidInputError, match="holds 2 data files"):
        data.read_rows(tmp_path)
    with pytest.raises(InvalidInputError, match="no such file"):
        data.read_rows(tmp_path / "missing.jsonl")


def test_mapping_precedence_mapping_then_default_then_column() -> None:
    f = flow(a=FlowInput("a"), b=FlowInput("b", default="dflt"), c=FlowInput("c"))
    row = {"x": 1, "b": "col-b", "c": "col-c"}
    mapping = data.parse_mapping({"a": "${data.x}"}, has_run=False)
    # promptflow's quirk, kept: a default beats a same-named column
    assert data.line_inputs(f, row, mapping) == {"a": 1, "b": "dflt", "c": "col-c"}


def test_mapping_literal_and_base_run_values() -> None:
    f = flow(p=FlowInput("p"), g=FlowInput("g"), lit=FlowInput("lit"))
    mapping = data.parse_mapping({"p": "${run.outputs.answer}", "g": "${run.inputs.question}",
                                  "lit": "fixed"}, has_run=True)
    base = {"inputs": {"question": "q"}, "outputs": {"answer": "a"}}
    assert data.line_inputs(f, {}, mapping, base) == {"p": "a", "g": "q", "lit": "fixed"}


def test_run_mapping_without_base_run_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="reads a base run; give one with --run"):
        data.parse_mapping({"p": "${run.outputs.answer}"}, has_run=False)
    with pytest.raises(InvalidInputError, match=r"use \$\{data\.<column>\}"):
        data.parse_mapping({"p": "${inputs.x}"}, has_run=False)


def test_missing_column_is_refused_before_any_line_runs() -> None:
    f = flow(text=FlowInput("text"))
    with pytest.raises(InvalidInputError,
                       match=r"d\.jsonl has no column 'txt' \(columns: line, text\)"):
        data.check_columns(f, [{"text": "a", "line": 1}], {"text": "${data.txt}"}, "d.jsonl")
    with pytest.raises(InvalidInputError, match="names nope, which the flow does not take"):
        data.check_columns(f, [{"text": "a"}], {"nope": "${data.text}"}, "d.jsonl")
