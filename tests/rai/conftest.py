"""Fixtures for the Responsible AI components: the example's generated loan-approval data (its
labels favour men), a logistic regression trained on it and saved as an MLflow sklearn model
by the example's own training script, and the constructor's output, made once per module."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from ember.rai import constructor

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "responsible-ai"
CATEGORICAL = '["sex", "region"]'
CONTINUOUS = '["age", "income", "years_employed", "credit_score"]'
TRAIN_ROWS = 240        # the test set is a quarter: 60 rows


@dataclass(frozen=True)
class Built:
    """The generated data (MLTable folders), the trained model and the constructor's output."""

    data: Path
    model: Path
    insights: Path


def make_data(out: Path, rows: int = TRAIN_ROWS) -> Path:
    subprocess.run([sys.executable, str(EXAMPLE / "make_data.py"), "--rows", str(rows),
                    "--out", str(out)], check=True)
    return out


def train_model(data: Path, out: Path) -> Path:
    subprocess.run([sys.executable, str(EXAMPLE / "src" / "train.py"), "--training_data",
                    str(data / "train"), "--target_column_name", "approved",
                    "--categorical_features", CATEGORICAL, "--continuous_features", CONTINUOUS,
                    "--model_output", str(out)], check=True, capture_output=True)
    return out


def construct_args(built_data: Path, model: Path, out: Path, **extra: str) -> list[str]:
    args = {"title": "Loan approval", "task_type": "classification",
            "model_input": str(model), "train_dataset": str(built_data / "train"),
            "test_dataset": str(built_data / "test"), "target_column_name": "approved",
            "categorical_column_names": CATEGORICAL, "classes": '["denied", "approved"]',
            "rai_insights_dashboard": str(out), **extra}
    return [item for k, v in args.items() for item in (f"--{k}", v)]


@pytest.fixture(scope="package")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    root = tmp_path_factory.mktemp("rai")
    data = make_data(root / "data")
    model = train_model(data, root / "model")
    insights = root / "insights"
    assert constructor.main(construct_args(data, model, insights)) == 0
    return Built(data, model, insights)


def fails(main: Callable[[list[str]], int], argv: list[str],
          capsys: pytest.CaptureFixture[str]) -> str:
    """Run a component's ``main``: it must fail with exit status 2 and one line on stderr,
    which is returned."""
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err, err
    return err


@dataclass(frozen=True)
class Outputs:
    """A small constructor output (10 test rows) and every insight computed from it."""

    insights: Path
    explanation: Path
    error_analysis: Path
    counterfactual: Path
    causal: Path


@pytest.fixture(scope="package")
def outputs(built: Built, tmp_path_factory: pytest.TempPathFactory) -> Outputs:
    from ember.rai import causal, counterfactual, erroranalysis, explanation

    root = tmp_path_factory.mktemp("rai-small")
    data = root / "data"
    shutil.copytree(built.data / "train", data / "train")
    (data / "test").mkdir(parents=True)
    shutil.copyfile(built.data / "test" / "MLTable", data / "test" / "MLTable")
    lines = (built.data / "test" / "data.csv").read_text().splitlines()
    (data / "test" / "data.csv").write_text("\n".join(lines[:11]) + "\n")
    made = Outputs(*(root / n for n in ("insights", "explanation", "error_analysis",
                                        "counterfactual", "causal")))
    assert constructor.main(construct_args(data, built.model, made.insights)) == 0
    board = ["--rai_insights_dashboard", str(made.insights)]
    assert explanation.main([*board, "--comment", "c", "--explanation",
                             str(made.explanation)]) == 0
    assert erroranalysis.main([*board, "--min_child_samples", "2", "--filter_features",
                               '["sex"]', "--error_analysis", str(made.error_analysis)]) == 0
    assert counterfactual.main([*board, "--total_CFs", "10", "--desired_class", "opposite",
                                "--counterfactual", str(made.counterfactual)]) == 0
    assert causal.main([*board, "--treatment_features", '["income", "sex"]', "--verbose", "0",
                        "--random_state", "0", "--causal", str(made.causal)]) == 0
    return made
