"""Generated job names: always valid names, whatever the display name holds."""

from __future__ import annotations

import pytest

from ember.engine.names import job_name
from ember.entities.names import check_name


@pytest.mark.parametrize("display, start", [
    ("train-model", "train_model_"), ("bench metrics #2", "bench_metrics_2_"),
    ("  --héllo--  ", "h_llo_"), ("日本語", ""), ("", ""), (None, ""), ("x" * 400, "x" * 200 + "_")])
def test_a_generated_job_name_is_a_valid_name(display: str | None, start: str) -> None:
    name = job_name(display)
    check_name("job", name)   # raises for an invalid one
    assert name.startswith(start)
