from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from ember.errors import SpecError
from ember.specs.yamlio import load_yaml, load_yaml_text


def test_loads_mapping_with_line_numbers(write: Callable[..., Path]) -> None:
    path = write("a.yml", """
        name: x
        inputs:
          lr: 0.1
        """)
    data = load_yaml(path)
    assert data["inputs"]["lr"] == 0.1
    assert data.lc.key("inputs")[0] + 1 == 2
    assert data["inputs"].lc.key("lr")[0] + 1 == 3


def test_unclosed_bracket_names_file_and_line(write: Callable[..., Path]) -> None:
    path = write("bad.yml", """
        name: x
        command: echo
        tags: [a, b
        other: 1
        """)
    with pytest.raises(SpecError) as info:
        load_yaml(path)
    message = str(info.value)
    assert message.startswith(f"{path}:")
    assert "YAML syntax error" in message
    assert info.value.line in (3, 4)


def test_tab_indentation_gets_a_hint(write: Callable[..., Path]) -> None:
    path = write("tabs.yml", "inputs:\n\tlr: 1\n")
    with pytest.raises(SpecError) as info:
        load_yaml(path)
    assert info.value.line == 2
    assert "tabs" in str(info.value)
    assert "tabs.yml:2:" in str(info.value)


def test_non_utf8_names_file(write: Callable[..., Path]) -> None:
    path = write("latin.yml", data=b"name: x\ndescription: caf\xe9\n")
    with pytest.raises(SpecError) as info:
        load_yaml(path)
    assert "latin.yml:2:" in str(info.value)
    assert "UTF-8" in str(info.value)


def test_utf8_bom_is_accepted(write: Callable[..., Path]) -> None:
    path = write("bom.yml", data="\ufeffname: café\n".encode())
    assert load_yaml(path)["name"] == "café"


@pytest.mark.parametrize("text", ["", "# only a comment\n", "---\n"])
def test_empty_file(write: Callable[..., Path], text: str) -> None:
    path = write("empty.yml", text)
    with pytest.raises(SpecError, match="empty"):
        load_yaml(path)


@pytest.mark.parametrize("text", ["- a\n- b\n", "just a string\n", "42\n"])
def test_top_level_must_be_mapping(write: Callable[..., Path], text: str) -> None:
    with pytest.raises(SpecError, match="top level must be a mapping"):
        load_yaml(write("list.yml", text))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="file not found") as info:
        load_yaml(tmp_path / "nope.yml")
    assert "nope.yml" in str(info.value)


def test_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="directory"):
        load_yaml(tmp_path)


def test_duplicate_key_names_key_and_line(write: Callable[..., Path]) -> None:
    path = write("dup.yml", """
        name: a
        command: echo
        name: b
        """)
    with pytest.raises(SpecError) as info:
        load_yaml(path)
    assert info.value.key == "name"
    assert info.value.line == 3
    assert "duplicate key 'name'" in str(info.value)


def test_control_character_and_deep_nesting_are_spec_errors() -> None:
    with pytest.raises(SpecError) as info:
        load_yaml_text("a: 1\nb: \x00\n", "x.yml")
    assert info.value.line == 2
    with pytest.raises(SpecError):
        load_yaml_text("a: " + "[" * 400 + "]" * 400, "deep.yml")


def test_several_documents_are_refused() -> None:
    with pytest.raises(SpecError, match="x.yml"):
        load_yaml_text("a: 1\n---\nb: 2\n", "x.yml")


def test_load_text_returns_scalars_and_none() -> None:
    assert load_yaml_text("", "s") is None
    assert load_yaml_text("3", "s") == 3
