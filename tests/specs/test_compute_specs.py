"""Compute YAML: ``type: ray`` with its address and limits, ``type: local``; bad specs name
file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from ember.entities.computes import Compute
from ember.errors import SpecError
from ember.specs.computes import load_compute_spec


def _spec(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "compute.yml"
    p.write_text(text)
    return p


def test_a_ray_compute_with_limits(tmp_path: Path) -> None:
    got = load_compute_spec(_spec(tmp_path, (
        "$schema: https://azuremlschemas.azureedge.net/latest/compute.schema.json\n"
        "name: ray-lab\ntype: ray\ndescription: the lab cluster\n"
        "address: http://127.0.0.1:8265\nmax_concurrent_jobs: 4\n"
        "resources:\n  CPU: 2\n  GPU: 0.5\ntags:\n  team: a\n")))
    assert got == Compute(name="ray-lab", type="ray", description="the lab cluster",
                          address="http://127.0.0.1:8265", max_concurrent_jobs=4,
                          resources={"CPU": 2.0, "GPU": 0.5}, tags={"team": "a"})


def test_a_local_compute(tmp_path: Path) -> None:
    assert load_compute_spec(_spec(tmp_path, "name: local\ntype: local\n")) == Compute(
        name="local", type="local")


@pytest.mark.parametrize(("text", "line", "key", "words"), [
    ("name: r\ntype: ray\naddress: http://h:8265\nadress: x\n", 4, "adress", "unknown key"),
    ("name: r\ntype: ray\naddress: http://h:8265\nmax_concurrent_jobs: two\n", 4,
     "max_concurrent_jobs", "must be an integer >= 1"),
    ("name: r\ntype: ray\naddress: 8265\n", 3, "address", "must be a string"),
    ("name: r\ntype: ray\naddress: ray://h:10001\n", 3, "address", "http:// or https://"),
    ("name: r\ntype: ray\naddress: http://h\n", 3, "address", "has no port"),
    ("name: r\ntype: ray\naddress: http://:8265\n", 3, "address", "has no host"),
    ("name: r\ntype: ray\n", 1, "address", "is required"),
    ("name: r\ntype: ray\naddress: http://h:8265\nresources:\n  CPU: -1\n", 5,
     "resources.CPU", "must be a number >= 0"),
    ("name: r\ntype: amlcompute\n", 2, "type", "supported types: local, ray"),
    ("name: r\ntype: kubernetes\n", 2, "type", "supported types: local, ray"),
    ("name: r\ntype: rey\n", 2, "type", "is not one of: local, ray"),
    ("name: r\ntype: local\naddress: http://h:8265\n", 3, "address",
     "applies to 'type: ray' only"),
    ("type: ray\naddress: http://h:8265\n", None, "name", "is required"),
])
def test_bad_specs_name_file_line_and_key(tmp_path: Path, text: str, line: int | None,
                                          key: str, words: str) -> None:
    path = _spec(tmp_path, text)
    with pytest.raises(SpecError) as err:
        load_compute_spec(path)
    message = str(err.value)
    assert str(path) in message and key in message and words in message, message
    if line is not None:
        assert f":{line}" in message, message
    assert "\n" not in message.split(" hint")[0]
