"""OpenAPI fragments shared by routes: the bodies FastAPI cannot infer, and error shapes."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from service.api.contracts import ErrorResponse, InferenceOptions, PredictRequest
from service.api.examples import EXAMPLE_ARRAY, EXAMPLE_PNG_B64

_binary = {"schema": {"type": "string", "format": "binary"}}


def image_body(*, batch: bool, arrays: bool = True) -> dict[str, Any]:
    """A request body that is an image, several uploaded files, or JSON instances (28×28
    arrays too, where ``arrays``)."""
    many = "one or more image files" if batch else "one image file"
    instances = (
        'JSON instances: 28×28 arrays of gray levels 0–255 (light digit on dark), or {"b64": '
        '"<base64 image bytes>"}'
        if arrays
        else 'JSON {"instances": [{"b64": "<base64 image bytes>"}]}'
    )
    examples = {
        "b64": {
            "summary": "a PNG digit, base64 (TF Serving's convention)",
            "value": {"instances": [{"b64": EXAMPLE_PNG_B64}]},
        }
    }
    if arrays:
        examples["array"] = {
            "summary": "a 28×28 array in MNIST form",
            "value": {"instances": [EXAMPLE_ARRAY]},
        }
    return {
        "requestBody": {
            "required": True,
            "description": (
                f"multipart/form-data with {many}; or a raw image body (PNG, JPEG, BMP, GIF, "
                f"WebP) with its image/* content type; or {instances}."
            ),
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {"file": {"type": "string", "format": "binary"}},
                    }
                },
                "image/png": _binary,
                "image/jpeg": _binary,
                "application/json": {
                    "schema": PredictRequest.model_json_schema(),
                    "examples": examples,
                },
            },
        }
    }


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {status: {"model": ErrorResponse} for status in statuses}


def query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    """``model``'s fields as OpenAPI query parameters, for routes that validate it directly;
    enums and other referenced types are written inline (the document has no ``$defs``)."""
    schema = model.model_json_schema()
    properties = _inline(schema["properties"], schema.get("$defs", {}))
    return [
        {
            "name": name,
            "in": "query",
            "required": name in schema.get("required", []),
            "description": field.pop("description", ""),
            "schema": field,
        }
        for name, field in properties.items()
    ]


def _inline(node: Any, definitions: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        if "$ref" in node:
            return _inline(definitions[node["$ref"].rsplit("/", 1)[-1]], definitions)
        return {key: _inline(value, definitions) for key, value in node.items()}
    if isinstance(node, list):
        return [_inline(item, definitions) for item in node]
    return node


INFERENCE_QUERY = query_parameters(InferenceOptions)
"""The inference routes' options, which they validate themselves (``inference_for``)."""
