from __future__ import annotations

import pytest

from ember.errors import InvalidInputError
from ember.specs.references import (
    AssetRef,
    is_asset_ref,
    is_uri,
    parse_asset_ref,
    parse_asset_reference,
)

ARM = ("azureml:/subscriptions/0000-1111/resourceGroups/rg/providers/"
       "Microsoft.MachineLearningServices/workspaces/ws1/environments/my-env/versions/7")


@pytest.mark.parametrize(("value", "expected"), [
    ("azureml:my-env:3", ("my-env", "3")),
    ("azureml:my_env:1.0.2", ("my_env", "1.0.2")),
    ("azureml:AzureML-sklearn-1.5@latest", ("AzureML-sklearn-1.5", None)),
    ("azureml:my-env", ("my-env", None)),
    (ARM, ("my-env", "7")),
    ("azureml://registries/azureml/environments/sklearn-1.5/versions/12", ("sklearn-1.5", "12")),
    ("azureml://registries/azureml/models/phi-3/labels/latest", ("phi-3", None)),
])
def test_accepted_forms(value: str, expected: tuple[str, str | None]) -> None:
    assert parse_asset_ref(value) == expected
    assert is_asset_ref(value)


def test_full_reference_keeps_registry_and_workspace() -> None:
    ref = parse_asset_reference("azureml://registries/azureml/models/phi-3/versions/2")
    assert ref == AssetRef("phi-3", "2", "models", registry="azureml")
    assert parse_asset_reference(ARM).workspace == "ws1"


@pytest.mark.parametrize("value", [
    "my-env:3", "azureml:", "azureml:name:", "azureml:a:b:c", "azureml:name@", "azureml:na me",
    "azureml:name@stable", "azureml://datastores/ds/paths/x", "azureml://registries/r/x",
    "azureml:/subscriptions/x", "https://example.com/x", "",
])
def test_bad_forms(value: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        parse_asset_ref(value)
    assert repr(value) in str(info.value)
    assert not is_asset_ref(value)


def test_is_asset_ref_on_non_strings() -> None:
    assert not is_asset_ref(None)
    assert not is_asset_ref(3)


@pytest.mark.parametrize(("value", "uri"), [
    ("https://x/y.csv", True), ("azureml://datastores/ds/paths/p", True), ("runs:/abc/model", True),
    ("wasbs://c@a.blob.core.windows.net/p", True), ("./data", False), ("/abs/data", False),
    ("file:///tmp/x", False), ("C:\\data", False),
])
def test_is_uri(value: str, uri: bool) -> None:
    assert is_uri(value) is uri
