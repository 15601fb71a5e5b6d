"""The model as the Open Inference Protocol describes and calls it, whatever carries it.

Inputs (send one): ``image``, MNIST-form gray levels (``tensors.gray_levels``); or
``image_bytes``, encoded images (PNG, JPEG, ...) normalised as ``/v1`` normalises uploads.
Outputs (ask for any; ``probabilities`` when none is named): ``probabilities``, ``digit``,
``box`` (where each digit is in its image, ``-1`` for gray levels), and every layer by its
``/v1`` name. REST (``service.v2.routes``) and gRPC (``service.grpc``) only translate.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import numpy as np
from starlette.concurrency import run_in_threadpool

from model.spec import NUM_CLASSES, network_input
from service.errors import InvalidInput, PayloadTooLarge
from service.inputs.pixel_limits import ImageLimits
from service.inputs.prepare import Digits, to_digits
from service.runtime.version import ModelVersion, Runner
from service.settings import Settings
from service.v2 import tensors

PIXELS = "image"
ENCODED = "image_bytes"
PROBABILITIES, DIGIT, BOX = "probabilities", "digit", "box"
CLASSIFICATION = "classification"
SHARED_MEMORY = "shared_memory_region"
MAX_RANK = 4
"""No input has more dimensions than ``image``'s ``[N, 28, 28, 1]``."""
PLATFORMS = {"onnx": "onnxruntime_onnx", "tensorflow": "tensorflow_savedmodel", "numpy": "numpy"}
"""Each backend as Triton names the platform it runs (NumPy has no Triton name)."""


@dataclass(frozen=True)
class Input:
    """One request input, decoded from JSON, binary data or gRPC contents."""

    name: str
    datatype: str
    shape: list[int]
    values: np.ndarray | list[bytes]


@dataclass(frozen=True)
class Output:
    name: str
    datatype: str
    values: np.ndarray  # its shape is the output's


def metadata(model: ModelVersion, versions: list[int]) -> dict[str, Any]:
    """Model metadata: the inputs accepted and every output there is."""
    return {
        "name": model.name,
        "versions": [str(v) for v in versions],
        "platform": PLATFORMS[model.default_backend],
        "inputs": [
            {"name": PIXELS, "datatype": "FP32", "shape": [-1, 28, 28, 1]},
            {"name": ENCODED, "datatype": "BYTES", "shape": [-1]},
        ],
        "outputs": [
            {"name": name, "datatype": datatype, "shape": shape}
            for name, (datatype, shape) in output_specs(model).items()
        ],
    }


def output_specs(model: ModelVersion) -> dict[str, tuple[str, list[int]]]:
    layers = {
        layer["name"]: ("FP32", [-1, *layer["output_shape"]])
        for layer in model.architecture["layers"]
    }
    return {
        PROBABILITIES: ("FP32", [-1, NUM_CLASSES]),
        DIGIT: ("INT64", [-1]),
        BOX: ("INT32", [-1, 4]),
        **layers,
    }


def check_parameters(tensor: str, parameters: Collection[str]) -> None:
    """Refuse what an input's or output's ``parameters`` ask of an extension this server
    does not have (its metadata lists none of them): Triton's classification (the top k as
    ``"score:index"`` strings; tritonclient's ``class_count``), and its shared memory, where
    the data would be in a region the client registered (``set_shared_memory``). Answered
    without them, a client would read probabilities where it expects labels, or find its
    region untouched and the answer inline."""
    if CLASSIFICATION in parameters:
        raise InvalidInput(
            f"{tensor}: the classification extension is not supported; ask for "
            f"{PROBABILITIES} and take the top k of them"
        )
    if SHARED_MEMORY in parameters:
        raise InvalidInput(
            f"{tensor}: the shared memory extensions are not supported; send the data in the "
            "request and read it in the answer"
        )


async def infer(
    settings: Settings, model: ModelVersion, runner: Runner, inputs: list[Input], wanted: list[str]
) -> list[Output]:
    """Run the request: its digits through ``runner`` (batched with whatever else is
    waiting), then each wanted output in the order asked."""
    specs = output_specs(model)
    asked = Counter(wanted)
    unknown = [name for name in asked if name not in specs]
    if unknown:
        named = ", ".join(unknown[:5]) + (f" and {len(unknown) - 5} more" if unknown[5:] else "")
        raise InvalidInput(f"unknown output(s) {named}; outputs: {', '.join(specs)}")
    twice = [name for name, times in asked.items() if times > 1]
    if twice:  # as Triton: each output is asked for once
        raise InvalidInput(f"output(s) {', '.join(twice)} asked for more than once")
    wanted = wanted or [PROBABILITIES]
    digits = await _digits(settings, inputs)
    computed: dict[str, np.ndarray] = {}
    if PROBABILITIES in wanted or DIGIT in wanted:
        probabilities = await runner.predict(digits.images, digits.viewed)
        computed[PROBABILITIES] = np.ascontiguousarray(probabilities, np.float32)
        computed[DIGIT] = probabilities.argmax(axis=1).astype(np.int64)
    if BOX in wanted:
        computed[BOX] = np.array([box or (-1, -1, -1, -1) for box in digits.boxes], np.int32)
    layers = [name for name in wanted if name in model.layer_names]
    if layers:
        activations = await run_in_threadpool(runner.activations, digits.images)
        computed |= {name: np.ascontiguousarray(activations[name], np.float32) for name in layers}
    return [Output(name, specs[name][0], computed[name]) for name in wanted]


def images_in(shape: list[int], most: int) -> int:
    """How many images an input of ``shape`` holds (its first dimension), refused past
    ``most`` or past the 4 dimensions of any input here: checked before its data is read,
    whose size it bounds."""
    if len(shape) > MAX_RANK:
        raise InvalidInput(
            f"shape {shape} has {len(shape)} dimensions; no input here has more than {MAX_RANK}"
        )
    count = shape[0] if shape else 0
    if count > most:
        raise PayloadTooLarge(f"{count} images in one request; the limit is {most}")
    return count


def encoded_at_most(shape: list[int], max_images: int) -> int:
    """How many ``BYTES`` elements an input of ``shape`` is read for, at most: what its
    shape holds, an element an image, and no more than a request's images (the bound for
    splitting them, before the shape itself is judged)."""
    return min(max_images, tensors.element_count(shape))


async def _digits(settings: Settings, inputs: list[Input]) -> Digits:
    if len(inputs) != 1 or inputs[0].name not in (PIXELS, ENCODED):
        names = ", ".join(i.name for i in inputs) or "none"
        raise InvalidInput(f"send one input, {PIXELS} or {ENCODED}; got {names}")
    (given,) = inputs
    count = images_in(given.shape, settings.max_images_per_request)
    if given.name == ENCODED:
        if given.datatype != "BYTES" or not isinstance(given.values, list):
            raise InvalidInput(f"{ENCODED} is BYTES: encoded images, one per element")
        if len(given.shape) != 1 or len(given.values) != count or not count:
            raise InvalidInput(f"{ENCODED}: shape [N] with N images, N at least 1")
        return await to_digits(list(given.values), None, limits=ImageLimits.of(settings))
    if isinstance(given.values, list):
        raise InvalidInput(f"{PIXELS} holds gray levels: UINT8 or FP32, not BYTES")
    gray = tensors.gray_levels(given.datatype, given.shape, given.values)
    if not len(gray):
        raise InvalidInput(f"{PIXELS} holds no image")
    return Digits(network_input(gray), [None] * len(gray), np.zeros(len(gray), bool))
