"""The ``/v1`` response bodies, from what the runtime computed."""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
import orjson

from model.numpy_lenet import Saliency
from service.api.contracts import (
    ActivationsResponse,
    Encoding,
    ExplainResponse,
    InputMap,
    LayerActivation,
    LayerGradient,
)
from service.inputs.photos import Box
from service.runtime.version import ModelVersion

Boxes = list[Box | None]


def predictions(
    model: ModelVersion, backend: str, probabilities: np.ndarray, boxes: Boxes
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
            "backend": backend,
            "predictions": _predictions(probabilities, boxes),
        },
        option=orjson.OPT_SERIALIZE_NUMPY,
    )


def number(model: ModelVersion, backend: str, probabilities: np.ndarray, boxes: Boxes) -> bytes:
    """(N, 10) probabilities of a number's digits, left to right → the ``ReadResponse`` body."""
    digits = _predictions(probabilities, boxes)
    return orjson.dumps(
        {
            "model": model.name,
            "version": str(model.version),
            "backend": backend,
            "number": "".join(str(d["digit"]) for d in digits),
            "digits": digits,
        },
        option=orjson.OPT_SERIALIZE_NUMPY,
    )


def _predictions(probabilities: np.ndarray, boxes: Boxes) -> list[dict[str, Any]]:
    probabilities = np.ascontiguousarray(probabilities, dtype=np.float32)  # orjson needs both
    digits = probabilities.argmax(axis=1)
    return [
        {"digit": int(d), "probability": p[d], "probabilities": p}
        | ({} if box is None else {"box": box})
        for d, p, box in zip(digits, probabilities, boxes, strict=True)
    ]


def activations(
    model: ModelVersion,
    backend: str,
    image: np.ndarray,
    box: Box | None,
    outputs: dict[str, np.ndarray],
    encoding: Encoding,
) -> ActivationsResponse:
    """The selected layers' ``outputs`` for one (28, 28, 1) ``image``, in network order."""
    types = {layer["name"]: layer["type"] for layer in model.architecture["layers"]}
    return ActivationsResponse(
        **_one_image(model, backend, encoding, image, box),
        layers=[_layer(name, types[name], values[0], encoding) for name, values in outputs.items()],
    )


def _one_image(
    model: ModelVersion, backend: str, encoding: Encoding, image: np.ndarray, box: Box | None
) -> dict[str, Any]:
    """What an answer about one image says first: who answered, how, and what it saw."""
    return {
        "model": model.name,
        "version": str(model.version),
        "backend": backend,
        "encoding": encoding,
        "box": None if box is None else list(box),
        "input": image[:, :, 0].tolist(),
    }


def explanation(
    model: ModelVersion,
    backend: str,
    image: np.ndarray,
    box: Box | None,
    probabilities: np.ndarray,
    digit: int,
    found: Saliency,
    layers: list[str],
    encoding: Encoding,
) -> ExplainResponse:
    """One (28, 28, 1) ``image``'s explanation of ``digit``, with the (10,) ``probabilities``
    the backend gave it; ``layers``' gradient norms, in network order."""
    shapes = {layer["name"]: layer["output_shape"] for layer in model.architecture["layers"]}
    types = {layer["name"]: layer["type"] for layer in model.architecture["layers"]}
    return ExplainResponse(
        **_one_image(model, backend, encoding, image, box),
        predicted=int(probabilities.argmax()),
        probabilities=probabilities.astype(np.float32).tolist(),
        digit=digit,
        gradient=InputMap(**_encoded(found.gradient[0, :, :, 0], encoding)),
        gradient_x_input=InputMap(**_encoded(found.gradient_x_input[0, :, :, 0], encoding)),
        layers=[
            LayerGradient(
                name=name,
                type=types[name],
                shape=shapes[name],
                gradient_l2=float(found.layer_norms[name][0]),
            )
            for name in layers
        ],
    )


def _layer(name: str, kind: str, values: np.ndarray, encoding: Encoding) -> LayerActivation:
    return LayerActivation(name=name, type=kind, **_encoded(values, encoding))


def _encoded(values: np.ndarray, encoding: Encoding) -> dict[str, Any]:
    """``values``' shape, range and the values themselves, as ``encoding`` asks."""
    values = np.ascontiguousarray(values, dtype="<f4")
    encoded = (
        {"b64": base64.b64encode(values.tobytes()).decode()}
        if encoding is Encoding.base64
        else {"data": values.tolist()}
    )
    return {
        "shape": list(values.shape),
        "min": float(values.min()),
        "max": float(values.max()),
        **encoded,
    }
