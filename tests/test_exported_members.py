"""The public surface is exactly what ``ember.__all__`` says, and every name resolves."""

from __future__ import annotations

from pathlib import Path

import ember


def test_all_names_resolve_and_nothing_else_is_public() -> None:
    assert sorted(ember.__all__) == ["AlertNotification", "BatchEndpoint",
                                     "CodeConfiguration", "Connection", "CronTrigger",
                                     "DataWindow", "Input", "JobSchedule", "MLClient",
                                     "ManagedOnlineDeployment", "ManagedOnlineEndpoint",
                                     "Model", "ModelBatchDeployment", "MonitorDefinition",
                                     "MonitorInputData", "MonitorSchedule",
                                     "MonitoringSignal", "MonitoringTarget", "Output",
                                     "RecurrencePattern", "RecurrenceTrigger",
                                     "ServerlessEndpoint", "TimeZone", "__version__",
                                     "command", "dsl", "finetuning", "load_component",
                                     "load_job", "load_model", "sweep"]
    for name in ember.__all__:
        assert getattr(ember, name) is not None
    from ember import dsl

    assert callable(dsl.pipeline) and dsl.load_component is ember.load_component
    import importlib

    assert dsl is importlib.import_module("ember.dsl")   # a real module, as azure.ai.ml.dsl
    assert sorted(dsl.__all__) == sorted(n for n in vars(dsl) if not n.startswith("_"))
    from ember.sweep import BanditPolicy, Choice, Uniform

    assert Choice and Uniform and BanditPolicy
    from ember import finetuning

    assert finetuning is importlib.import_module("ember.finetuning")   # as azure.ai.ml's
    assert sorted(finetuning.__all__) == sorted(n for n in vars(finetuning)
                                                if not n.startswith("_"))
    public = {n for n in dir(ember) if not n.startswith("_")}
    assert public <= set(ember.__all__) | {"annotations", "Any", "client", "entities", "errors",
                                           "settings", "specs", "engine", "artifacts", "store",
                                           "server", "services", "tracking", "cli",
                                           "serving", "flows", "pf", "finetune", "credentials",
                                           "private_files", "monitoring", "rai"}


def test_runner_imports_no_third_party_code() -> None:
    import subprocess
    import sys

    from ember.engine import runner

    # as the scheduler runs it: `python -S runner.py`, with the runner's folder first on sys.path
    folder = str(Path(runner.__file__).parent)
    code = (f"import runpy, sys; sys.path.insert(0, {folder!r}); "
            f"runpy.run_path({runner.__file__!r}, run_name='not_main'); "
            "bad = [m for m in sys.modules if m.split('.')[0] in "
            "('httpx','pydantic','sqlalchemy','fastapi','ember','psutil')]; print(bad)")
    out = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
