"""The OpenAPI document: the bodies FastAPI cannot infer, the error shapes, and the document
itself, made to describe this server as it answers (checked by ``.ci/contract``, which runs
schemathesis against a real process)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from service.api.contracts import (
    B64Image,
    ErrorResponse,
    InferenceOptions,
    ModelOptions,
    PredictRequest,
)
from service.api.examples import EXAMPLE_ARRAY, EXAMPLE_PNG_B64
from service.paths import is_v2
from service.v2.rest import InferenceErrorResponse

_BINARY = {"type": "string", "format": "binary"}
IMAGE_TYPES = ("image/png", "image/jpeg", "image/bmp", "image/gif", "image/webp")
"""Their registered names; ``bodies.IMAGE_TYPES`` takes the aliases clients send too."""


def image_body(*, batch: bool, arrays: bool = True) -> dict[str, Any]:
    """A request body that is an image, several uploaded files, or JSON instances (28×28
    arrays too, where ``arrays``); one of each where not ``batch``."""
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
                f"multipart/form-data with {many} (a batch's parts may have any names); or a "
                f"raw image body (PNG, JPEG, BMP, GIF, WebP) with its image/* content type; or "
                f"{instances}. Whether the bytes are a whole image, and whether it shows a "
                "digit, no schema can say: 400 and 422 (no_digit) answer those."
            ),
            "content": {
                "multipart/form-data": {"schema": _files(batch)},
                **{media_type: {"schema": _BINARY} for media_type in IMAGE_TYPES},
                "application/json": {
                    "schema": _instances(batch=batch, arrays=arrays),
                    "examples": examples,
                },
            },
        }
    }


def _files(batch: bool) -> dict[str, Any]:
    """The multipart body: at least one file part (text parts are ignored)."""
    file = {"type": "array", "items": _BINARY, "minItems": 1} if batch else _BINARY
    return {"type": "object", "properties": {"file": file}, "required": ["file"]}


def _instances(*, batch: bool, arrays: bool) -> dict[str, Any]:
    """``PredictRequest`` as a route takes it: one instance where not ``batch``, images only
    where not ``arrays``."""
    schema = json_schema(PredictRequest)
    instances = schema["properties"]["instances"]
    if not batch:
        instances["maxItems"] = 1
    if not arrays:
        instances["items"] = json_schema(B64Image)
    return schema


def json_schema(model: type[BaseModel]) -> dict[str, Any]:
    """``model``'s JSON schema with its definitions written inline: an operation's
    ``openapi_extra`` is pasted into the document as it is, where ``#/$defs/...`` would
    point at nothing."""
    schema = model.model_json_schema()
    inlined: dict[str, Any] = _inline(schema, schema.pop("$defs", {}))
    return inlined


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {status: {"model": ErrorResponse} for status in statuses}


def query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    """``model``'s fields as OpenAPI query parameters, for routes that validate it directly."""
    schema = json_schema(model)
    return [
        {
            "name": name,
            "in": "query",
            "required": name in schema.get("required", []),
            "description": field.pop("description", ""),
            "schema": field,
        }
        for name, field in schema["properties"].items()
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
MODEL_QUERY = query_parameters(ModelOptions)
"""``/v1/read``'s: no ``preprocess``, which its own steps leave no choice of."""


def install(app: FastAPI, backends: Sequence[str]) -> None:
    """Serve a document that describes this server: the backends it loaded, and its errors
    in the shapes its handlers answer with."""

    def document() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            _answer_validation_errors_as_served(schema)
            _declare_body_deadline(schema)
            _offer_only(schema, backends)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = document  # type: ignore[method-assign]  # FastAPI's documented override


BEARER = "apiKey"
"""The security scheme's name in the document, where keys are on (``LENET_API_KEYS_FILE``)."""


def require_bearer(app: FastAPI, is_open: Callable[[str], bool]) -> None:
    """Declare the API key in the document ``install`` serves: an HTTP bearer scheme, and on
    each operation of a path that is not ``is_open``, that scheme and its 401. Call it after
    ``install``; without it (keys off) the document is as ``install`` made it."""
    build = app.openapi

    def document() -> dict[str, Any]:
        schema = build()
        if BEARER not in schema["components"].get("securitySchemes", {}):
            _declare_bearer(schema, is_open)
        return schema

    app.openapi = document  # type: ignore[method-assign]  # FastAPI's documented override


def _declare_bearer(schema: dict[str, Any], is_open: Callable[[str], bool]) -> None:
    components = schema["components"]
    components.setdefault("securitySchemes", {})[BEARER] = {
        "type": "http",
        "scheme": "bearer",
        "description": "One of the keys in the server's LENET_API_KEYS_FILE.",
    }
    for path, operations in schema["paths"].items():
        if is_open(path):
            continue
        for operation in operations.values():
            operation["security"] = [{BEARER: []}]
            operation["responses"].setdefault(
                "400",
                {
                    "description": "Authorization sent twice",
                    "content": _error_content(schema, path),
                },
            )
            operation["responses"]["401"] = {
                "description": "No API key, or not one of the server's",
                "headers": {
                    "WWW-Authenticate": {
                        "description": 'Bearer realm="lenet-serve", with error="invalid_token"'
                        " where a key was sent but is not valid",
                        "schema": {"type": "string"},
                    }
                },
                "content": _error_content(schema, path),
            }


def _error_content(schema: dict[str, Any], path: str) -> dict[str, Any]:
    """An error answer's content under ``path``: the protocol's shape under /v2, else ours."""
    error = InferenceErrorResponse if is_v2(path) else ErrorResponse
    schema["components"]["schemas"].setdefault(error.__name__, json_schema(error))
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{error.__name__}"}}}


def _declare_body_deadline(schema: dict[str, Any]) -> None:
    """The 408 of ``limits.BodyDeadline``, which any operation with a body may answer."""
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if method == "post":
                operation["responses"]["408"] = {
                    "description": "The body stalled, or came too slowly",
                    "content": _error_content(schema, path),
                }


def _answer_validation_errors_as_served(schema: dict[str, Any]) -> None:
    """FastAPI documents its own 422 body (``HTTPValidationError``) for every operation with
    parameters; the handler table answers in the service's error shape instead."""
    components = schema["components"]["schemas"]
    for path, operations in schema["paths"].items():
        error = InferenceErrorResponse if is_v2(path) else ErrorResponse
        for operation in operations.values():
            response = operation["responses"].get("422", {})
            content = response.get("content", {}).get("application/json", {})
            if content.get("schema", {}).get("$ref", "").endswith("/HTTPValidationError"):
                content["schema"] = {"$ref": f"#/components/schemas/{error.__name__}"}
                components.setdefault(error.__name__, json_schema(error))
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)


def _offer_only(schema: dict[str, Any], backends: Sequence[str]) -> None:
    """The ``backend`` query parameter lists the backends this server loaded, not every one
    there is: asking for another is a 422."""
    for operations in schema["paths"].values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter["name"] == "backend" and parameter["in"] == "query":
                    for option in parameter["schema"].get("anyOf", [parameter["schema"]]):
                        if "enum" in option:
                            option["enum"] = [name for name in option["enum"] if name in backends]
