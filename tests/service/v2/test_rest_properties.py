"""service.v2.rest under arbitrary bodies (hypothesis): JSON or binary, whatever the header
says, a /v2 body becomes its request and inputs, and those the network's input, or it is
refused with one of the service's own 4xx errors."""

from __future__ import annotations

import asyncio
import base64
import json

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from service.inputs.pixel_limits import ImageLimits
from service.inputs.prepare import to_digits
from service.v2 import tensors
from service.v2.inference import ENCODED, PIXELS
from service.v2.rest import read_request
from tests.service.fuzzing import BYTES, JSON, grids, only_client_errors

DATATYPES = st.sampled_from([*tensors.DTYPES, "BYTES", "FP33", ""])
SHAPES = st.lists(st.sampled_from([1, 2, 28, 0, -1]) | st.integers(-3, 2**64), max_size=5)
DATA = (
    JSON
    | grids()
    | st.lists(BYTES.map(lambda data: base64.b64encode(data).decode()), max_size=3)
    | st.lists(st.integers(0, 255), min_size=784, max_size=784)
)
PARAMETERS = st.dictionaries(
    st.sampled_from(["binary_data_size", "binary_data", "binary_data_output", "backend", "x"]),
    JSON,
    max_size=2,
)

LIMITS = ImageLimits(10**6, 10**6, 10**6)


@st.composite
def requests(draw: st.DrawFn) -> tuple[bytes, str | None]:
    """An inference request near enough to valid to reach every check, as JSON or with
    binary data after it; and its Inference-Header-Content-Length header, right or not."""
    given_input: dict[str, object] = {
        "name": draw(st.sampled_from([PIXELS, ENCODED, "x"])),
        "shape": draw(SHAPES),
        "datatype": draw(DATATYPES),
        "parameters": draw(PARAMETERS),
    }
    binary = b""
    if draw(st.booleans()):
        given_input["data"] = draw(DATA)
    else:
        binary = draw(BYTES | st.binary(min_size=784, max_size=784))
        given_input["parameters"] = {"binary_data_size": draw(st.sampled_from([len(binary), 7]))}
    request: dict[str, object] = {"inputs": draw(st.lists(st.just(given_input), max_size=2))}
    if draw(st.booleans()):
        request["outputs"] = [{"name": draw(st.sampled_from(["digit", "box", "conv1", "x"]))}]
    if draw(st.booleans()):
        request["id"] = draw(JSON)
    header = json.dumps(request).encode()
    length = draw(
        st.sampled_from([str(len(header)), None, "-1", "²", "9" * 5000])
        | st.integers(0, len(header) + len(binary)).map(str)
    )
    return header + binary, length


@given(requests() | st.tuples(BYTES, st.none() | st.text(max_size=6)))
def test_any_body_is_read_or_refused_with_a_client_error(body: tuple[bytes, str | None]) -> None:
    with only_client_errors():
        _, inputs = read_request(*body, max_images=256)
        for given_input in inputs:
            if isinstance(given_input.values, list):
                digits = asyncio.run(to_digits(list(given_input.values), None, limits=LIMITS))
                assert digits.images.shape[1:] == (28, 28, 1)
            else:
                gray = tensors.gray_levels(
                    given_input.datatype, given_input.shape, given_input.values
                )
                assert gray.shape[1:] == (28, 28) and np.isfinite(gray).all()
