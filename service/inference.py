"""Tensors in, response bodies out: the blocking half of each route, run in a worker thread."""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
import orjson

from service.backends import Backend
from service.errors import NotFound
from service.inputs.photos import Digit
from service.repository import ModelVersion
from service.schemas import (
    ActivationsResponse,
    Encoding,
    LayerActivation,
)


def network_input(tensors: np.ndarray) -> np.ndarray:
    """(N, 28, 28) gray levels 0–255 → (N, 28, 28, 1) float32 in [0, 1]."""
    return (tensors.astype(np.float32) / np.float32(255.0))[..., None]


def predictions(
    model: ModelVersion, backend: Backend, probabilities: np.ndarray, found: list[Digit]
) -> bytes:
    """(N, 10) probabilities → the ``PredictResponse`` JSON body, one prediction per image,
    each with its digit's box when it came from an image.

    Serialised straight to bytes by orjson: building and validating pydantic models for
    this fixed, simple shape cost more than the model's own inference. Probabilities are
    written as float32, the precision they were computed in (shortest round-trip digits).
    """
    return orjson.dumps(
        {
            "model": model.name,
            "version": str(model.version),
            "backend": backend.name,
            "predictions": _predictions(probabilities, found),
        },
        option=orjson.OPT_SERIALIZE_NUMPY,
    )


def number(
    model: ModelVersion, backend: Backend, probabilities: np.ndarray, found: list[Digit]
) -> bytes:
    """(N, 10) probabilities of a number's digits, left to right → the ``ReadResponse`` body."""
    digits = _predictions(probabilities, found)
    return orjson.dumps(
        {
            "model": model.name,
            "version": str(model.version),
            "backend": backend.name,
            "number": "".join(str(d["digit"]) for d in digits),
            "digits": digits,
        },
        option=orjson.OPT_SERIALIZE_NUMPY,
    )


def _predictions(probabilities: np.ndarray, found: list[Digit]) -> list[dict[str, Any]]:
    probabilities = np.ascontiguousarray(probabilities, dtype=np.float32)  # orjson needs both
    digits = probabilities.argmax(axis=1)
    return [
        {"digit": int(d), "probability": p[d], "probabilities": p}
        | ({} if digit.box is None else {"box": digit.box})
        for d, p, digit in zip(digits, probabilities, found, strict=True)
    ]


def select_layers(model: ModelVersion, wanted: str | None) -> list[str]:
    """``conv1,pool1`` → those layers in network order; None or empty → every layer."""
    if not wanted:
        return model.layer_names
    names = [name.strip() for name in wanted.split(",") if name.strip()]
    unknown = [name for name in names if name not in model.layer_names]
    if unknown:
        raise NotFound(
            f"unknown layer(s) {', '.join(unknown)}; layers: {', '.join(model.layer_names)}"
        )
    return [name for name in model.layer_names if name in names]


def activations(
    model: ModelVersion,
    backend: Backend,
    digit: Digit,
    layers: list[str],
    encoding: Encoding,
) -> ActivationsResponse:
    """Every selected layer's output for one digit."""
    x = network_input(digit.tensor[None])
    outputs = backend.activations(x)
    types = {layer["name"]: layer["type"] for layer in model.architecture["layers"]}
    return ActivationsResponse(
        model=model.name,
        version=str(model.version),
        backend=backend.name,
        encoding=encoding,
        box=None if digit.box is None else list(digit.box),
        input=x[0, :, :, 0].tolist(),
        layers=[_layer(name, types[name], outputs[name][0], encoding) for name in layers],
    )


def _layer(name: str, kind: str, values: np.ndarray, encoding: Encoding) -> LayerActivation:
    values = np.ascontiguousarray(values, dtype="<f4")
    encoded = (
        {"b64": base64.b64encode(values.tobytes()).decode()}
        if encoding is Encoding.base64
        else {"data": values.tolist()}
    )
    return LayerActivation(
        name=name,
        type=kind,
        shape=list(values.shape),
        min=float(values.min()),
        max=float(values.max()),
        **encoded,
    )
