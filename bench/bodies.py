"""The request bodies every HTTP benchmark sends: one MNIST digit, as PNG and as JSON."""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from service.api.examples import EXAMPLE_ARRAY, EXAMPLE_DIGIT, EXAMPLE_PNG


@dataclass(frozen=True)
class Body:
    """One request body, its content type, and the digit a correct server answers."""

    name: str
    content_type: str
    data: bytes
    digit: int = EXAMPLE_DIGIT


PNG = Body("png", "image/png", EXAMPLE_PNG)
JSON = Body("json", "application/json", orjson.dumps({"instances": [EXAMPLE_ARRAY]}))
BODIES = {body.name: body for body in (PNG, JSON)}
