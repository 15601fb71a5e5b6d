"""The bench's v2 bodies as the service reads them, and the digit read back from answers."""

import numpy as np
import orjson

from bench.bodies import HEADER_LENGTH, V2_BODIES, example_image
from bench.http_load import answer_digit
from service.v2 import rest


def test_v2_binary_body_is_a_json_header_then_the_raw_image() -> None:
    body = V2_BODIES["v2-binary"]
    length = int(body.headers[HEADER_LENGTH])
    header, raw = orjson.loads(body.data[:length]), body.data[length:]
    assert header["inputs"][0]["parameters"] == {"binary_data_size": len(raw)}
    np.testing.assert_array_equal(np.frombuffer(raw, "<f4"), example_image().ravel())


def test_service_reads_both_v2_bodies_as_the_example_image() -> None:
    for body in V2_BODIES.values():
        request, inputs = rest.read_request(body.data, body.headers.get(HEADER_LENGTH), 1)
        assert [o.name for o in request.outputs] == ["probabilities", "digit"]
        np.testing.assert_array_equal(
            np.asarray(inputs[0].values, np.float32), example_image().ravel()
        )


def test_answer_digit_reads_v1_and_v2_answers() -> None:
    assert answer_digit({"predictions": [{"digit": 7}]}) == 7
    assert answer_digit({"digit": 7}) == 7
    v2 = {
        "outputs": [
            {"name": "probabilities", "parameters": {"binary_data_size": 40}},
            {"name": "digit", "datatype": "INT64", "shape": [1], "data": [7]},
        ]
    }
    assert answer_digit(v2) == 7
    assert answer_digit({"outputs": [{"name": "digit", "parameters": {}}]}) is None
