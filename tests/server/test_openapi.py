"""The OpenAPI document is valid, and the app keeps its promises on generated requests.

Schemathesis calls every operation in process (ASGI) with a bounded number of generated
requests, over a real Platform on a fresh SQLite EMBER_HOME: no answer is a 5xx and every
answer conforms to its documented schema, status and content type.

Side effects: the app is created with ``start_scheduler=False``, so the scheduler,
orchestrator and supervisor threads never run: a generated job stays Queued and no runner is
started. The only process a generated request can start is the endpoint router, on the first
online-endpoint creation (a loopback process that the app stops when its lifespan ends); no
deployment worker starts, as a rollout needs a registered model that generated requests never
name.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from openapi_spec_validator import OpenAPIV31SpecValidator
from schemathesis import GenerationMode
from schemathesis.python import asgi
from schemathesis.specs.openapi import checks as openapi_checks

from ember.server.app import create_app
from ember.settings import Settings

OPENAPI = "/api/v1/openapi.json"
# Per operation and generation mode (valid and invalid data); about 130 operations take ~2
# minutes on two cores. EMBER_OPENAPI_EXAMPLES runs more, to search harder.
MAX_EXAMPLES = int(os.environ.get("EMBER_OPENAPI_EXAMPLES", "10"))


def make_app(home: Path) -> FastAPI:
    return create_app(Settings(home=home, port=0), start_scheduler=False)


def test_the_document_is_valid_and_complete(tmp_path: Path) -> None:
    with TestClient(make_app(tmp_path / "home")) as client:
        doc = client.get(OPENAPI).json()
    errors = [str(e).splitlines()[0] for e in OpenAPIV31SpecValidator(doc).iter_errors()]
    assert errors == []
    operations = [(method, path) for path, item in doc["paths"].items() for method in item]
    assert len(operations) > 120
    for path, item in doc["paths"].items():
        for method, op in item.items():
            declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert declared == set(_template_names(path)), (method, path)
            assert "422" not in op["responses"] and {"4XX", "5XX"} <= set(op["responses"])
    # The MLflow protocol is in it, once (the root copy is an alias of workspace 'default').
    assert "/workspaces/{workspace}/api/2.0/mlflow/runs/log-batch" in doc["paths"]
    assert not any(p.startswith("/api/2.0/") for p in doc["paths"])
    ids = [op["operationId"] for item in doc["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids))


def _template_names(path: str) -> list[str]:
    return [part[1:-1].split(":")[0] for part in path.split("/") if part.startswith("{")]


# Loaded at collection (schemathesis parametrises from it): the app's lifespan, and so its
# Platform, starts with the first request and is shut down when this module's tests end.
_HOME = Path(tempfile.mkdtemp(prefix="ember-openapi-"))
_APP = make_app(_HOME / "home")
schema = schemathesis.openapi.from_asgi(OPENAPI, _APP)
schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE])


@pytest.fixture(scope="module", autouse=True)
def _shutdown_fuzzed_app() -> Iterator[None]:
    yield
    asgi.shutdown_lifespans()   # Platform.close(): stops the router if a request started it
    shutil.rmtree(_HOME, ignore_errors=True)


def _owner_headers() -> dict[str, str]:
    """The fuzzed app's owner token, as the local CLI and SDK send it (its Platform, and so
    the token, is made when its lifespan starts: entering a client starts it, once)."""
    with asgi.get_client(_APP):
        pass
    return {"Authorization": f"Bearer {_APP.state.platform.owner_token}"}


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_no_server_error_and_every_answer_as_documented(case: Any) -> None:
    if case.path_parameters and "workspace" in case.path_parameters:
        # An existing workspace: random names stop every request at the workspace check.
        case.path_parameters["workspace"] = "default"
    case.call_and_validate(headers=_owner_headers(), checks=[
        schemathesis.checks.not_a_server_error,
        openapi_checks.response_schema_conformance,
        openapi_checks.status_code_conformance,
        openapi_checks.content_type_conformance,
    ])
