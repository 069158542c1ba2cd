"""Fixtures for SDK tests: the pipeline spec tests' component files, written to tmp_path."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.pipelines.conftest import PREP, SCORE, TRAIN


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """tmp_path with data/, components/src/ and components/{prep,train,score}.yml."""
    (tmp_path / "data").mkdir()
    (tmp_path / "components" / "src").mkdir(parents=True)
    for name, text in (("prep", PREP), ("train", TRAIN), ("score", SCORE)):
        (tmp_path / "components" / f"{name}.yml").write_text(
            textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return tmp_path
