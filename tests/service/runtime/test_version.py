"""service.runtime.version: which layers a ``layers`` query selects."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest

from model.spec import LAYER_NAMES
from service.api.examples import EXAMPLE_ARRAY
from service.errors import NotFound
from service.runtime.version import ModelVersion


def version() -> ModelVersion:
    """A version as ``select_layers`` sees it: its layer table, nothing loaded."""
    return ModelVersion(
        name="lenet",
        version=1,
        path=Path("1"),
        runners={},
        default_backend="numpy",
        default_backend_reason="",
        explainer=cast(Any, None),
        architecture={"layers": [{"name": name} for name in LAYER_NAMES]},
        card={},
    )


@pytest.mark.parametrize("wanted", [None, "", ",", ",,,", " , "])
def test_select_layers_naming_none_selects_every_layer(wanted: str | None) -> None:
    assert version().select_layers(wanted) == list(LAYER_NAMES)


def test_select_layers_keeps_network_order_and_skips_empty_names() -> None:
    assert version().select_layers("pool1,,conv1,") == ["conv1", "pool1"]


def test_select_layers_names_the_unknown_ones() -> None:
    with pytest.raises(NotFound, match="unknown layer"):
        version().select_layers(",conv9")


@pytest.mark.anyio
@pytest.mark.parametrize("route", ["activations", "explain"])
async def test_a_layers_query_of_commas_answers_every_layer(client, route: str) -> None:
    response = await client.post(f"/v1/{route}?layers=,", json={"instances": [EXAMPLE_ARRAY]})
    assert response.status_code == 200, response.text
    assert [layer["name"] for layer in response.json()["layers"]] == list(LAYER_NAMES)
