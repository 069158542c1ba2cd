"""Reading MLTable folders and the JSON-encoded parameters."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from ember.errors import InvalidInputError
from ember.rai._data import read_table
from ember.rai._params import bool_param, json_param, string_list


def _mltable(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "MLTable").write_text(text)
    return folder


def test_reads_delimited_parquet_and_patterns(tmp_path: Path) -> None:
    table = _mltable(tmp_path / "t", "paths:\n  - file: ./a.csv\ntransformations:\n"
                     "  - read_delimited: {delimiter: ';', header: all_files_same_headers}\n"
                     "  - drop_columns: [c]\n")
    (table / "a.csv").write_text("a;b;c\n1;x;3\n2;y;4\n")
    assert read_table(table, "d").to_dict("list") == {"a": [1, 2], "b": ["x", "y"]}

    parts = _mltable(tmp_path / "p", "paths:\n  - pattern: ./part-*.parquet\n"
                     "transformations:\n  - read_parquet\n  - keep_columns: [b]\n")
    for i in range(2):
        pd.DataFrame({"a": [i], "b": [i * 10]}).to_parquet(parts / f"part-{i}.parquet")
    assert read_table(parts, "d")["b"].tolist() == [0, 10]

    folder = tmp_path / "plain"
    folder.mkdir()
    (folder / "x.csv").write_text("a\n5\n")
    assert read_table(folder, "d")["a"].tolist() == [5]


@pytest.mark.parametrize(("spec", "message"), [
    ("paths:\n  - file: https://example.com/a.csv\n",
     "Ember reads MLTable paths relative to its folder"),
    ("paths:\n  - file: ./missing.csv\n", "names file './missing.csv', which is not in"),
    ("paths:\n  - file: ./a.csv\ntransformations:\n  - take: 5\n",
     "MLTable transformation 'take' is not supported"),
    ("paths:\n  - file: ./a.csv\ntransformations:\n  - keep_columns: [z]\n",
     "keep_columns names missing column(s) z"),
    ("paths: []\n", "names no file"),
    ("paths: [\n", "is not YAML"),
    ("paths:\n  - url: ./a.csv\n", "MLTable paths take file, folder or pattern, not 'url'"),
])
def test_mltable_errors_name_the_input(tmp_path: Path, spec: str, message: str) -> None:
    table = _mltable(tmp_path / "t", spec)
    (table / "a.csv").write_text("a\n1\n")
    with pytest.raises(InvalidInputError) as info:
        read_table(table, "train_dataset")
    assert info.value.message.startswith("train_dataset: ") and message in info.value.message


def test_json_params() -> None:
    assert string_list("[]", "x") == [] and string_list("null", "x") == []
    assert string_list('["a"]', "x") == ["a"]
    assert json_param("None", "x", dict, {}) == {}
    assert bool_param("False", "x") is False and bool_param("true", "x") is True
    with pytest.raises(InvalidInputError, match=r"^classes: not valid JSON \(Expecting"):
        json_param("[a]", "classes", list)
    with pytest.raises(InvalidInputError, match=r"^x: expected a JSON list of strings"):
        string_list("[1]", "x")
    with pytest.raises(InvalidInputError, match=r"^x: expected a JSON object, got '\[\]'"):
        json_param("[]", "x", dict)
    with pytest.raises(InvalidInputError, match=r"^random_state: expected a JSON integer"):
        json_param("true", "random_state", int)


def test_a_missing_library_names_the_extra() -> None:
    from ember.errors import UnsupportedError
    from ember.rai._deps import require

    with pytest.raises(UnsupportedError) as info:
        require("ember_rai_no_such_library.sub")
    assert info.value.message.startswith(
        "the Responsible AI components need the Python package 'ember_rai_no_such_library'")
    assert info.value.message.endswith("install it with: pip install 'ember-ml[rai]'")
