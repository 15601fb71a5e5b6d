"""The API contract: request and response bodies, with examples that work when pasted."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from model.artifacts import BlessingStatus
from service.inputs.prepare import Preprocess
from service.settings import BackendName


class ModelOptions(BaseModel):
    """The query parameters of every inference route: which model runs it."""

    backend: BackendName | None = Field(
        default=None, description="inference backend; default: the server's (see /v1/model)"
    )
    version: str | None = Field(
        default=None, description="model version to use; default: the newest blessed (/v1/model)"
    )


class InferenceOptions(ModelOptions):
    """The query parameters of the routes that read digits: also how an image is prepared.
    (``/v1/read`` finds the digits of a number in a photo by steps of its own.)"""

    preprocess: Preprocess | None = Field(
        default=None, description="default: mnist for images, none for JSON arrays"
    )


class Encoding(StrEnum):
    """``json``: nested lists; ``base64``: little-endian float32 bytes in C order."""

    json = "json"
    base64 = "base64"


class B64Image(BaseModel):
    """TF Serving's convention for binary data inside JSON."""

    model_config = ConfigDict(extra="forbid")
    b64: str = Field(
        description="base64 of PNG/JPEG/BMP/GIF/WebP bytes",
        json_schema_extra={"pattern": "^[A-Za-z0-9+/]*={0,2}$"},  # checked by decoding it: 400
    )


def _grid(cell: dict[str, Any]) -> dict[str, Any]:
    row = {"type": "array", "items": cell, "minItems": 28, "maxItems": 28}
    return {"type": "array", "items": row, "minItems": 28, "maxItems": 28}


_GRAY = {"type": "number", "minimum": 0, "maximum": 255}
DigitArray = Annotated[
    list[Any],
    WithJsonSchema(
        {
            "description": "28×28 (or 28×28×1) gray levels 0–255, light digit on dark",
            "anyOf": [
                _grid(_GRAY),
                _grid({"type": "array", "items": _GRAY, "minItems": 1, "maxItems": 1}),
            ],
        }
    ),
]
"""A JSON array as ``service.inputs.arrays`` checks it (naming each mistake, with a 422),
documented as it must be; validated here only as a list, which costs nothing."""


class PredictRequest(BaseModel):
    """``instances``: 28×28 arrays of gray levels 0–255 (light digit on dark), or images."""

    instances: list[DigitArray | B64Image] = Field(min_length=1)


BOX_DESCRIPTION = (
    "where the digit is: [x, y, width, height] in the uploaded image's pixels (after its EXIF "
    "rotation); only for images"
)


class Prediction(BaseModel):
    digit: int = Field(ge=0, le=9)
    probability: float = Field(description="probability of ``digit``")
    probabilities: list[float] = Field(description="one per digit 0–9")
    box: list[int] | None = Field(
        default=None, min_length=4, max_length=4, description=BOX_DESCRIPTION
    )


class PredictResponse(BaseModel):
    model: str
    version: str
    backend: str
    predictions: list[Prediction]


class ReadResponse(BaseModel):
    model: str
    version: str
    backend: str
    number: str = Field(description="the digits read, left to right, e.g. 2026")
    digits: list[Prediction] = Field(description="one per digit, left to right, with its box")


class LayerActivation(BaseModel):
    name: str
    type: str
    shape: list[int] = Field(description="one image's output shape, channels last")
    min: float
    max: float
    data: Any | None = Field(default=None, description="nested lists (encoding=json)")
    b64: str | None = Field(
        default=None, description="little-endian float32, C order, of ``shape`` (encoding=base64)"
    )


class ActivationsResponse(BaseModel):
    model: str
    version: str
    backend: str
    encoding: Encoding
    box: list[int] | None = Field(default=None, description=BOX_DESCRIPTION)
    input: list[list[float]] = Field(description="the 28×28 the network saw, scaled to [0, 1]")
    layers: list[LayerActivation]


class InputMap(BaseModel):
    """One value per pixel of the 28×28 input the network saw."""

    shape: list[int] = Field(description="[28, 28]")
    min: float
    max: float
    data: Any | None = Field(default=None, description="nested lists (encoding=json)")
    b64: str | None = Field(
        default=None, description="little-endian float32, C order, of ``shape`` (encoding=base64)"
    )


class LayerGradient(BaseModel):
    name: str
    type: str
    shape: list[int] = Field(description="one image's output shape, channels last")
    gradient_l2: float = Field(
        description="L2 norm of d p[digit] / d (this layer's output, as /v1/activations has "
        "it); 1 for output, whose gradient is one-hot"
    )


class ExplainResponse(BaseModel):
    model: str
    version: str
    backend: str = Field(
        description="the backend that predicted; the gradients are the NumPy network's, "
        "on the same weights, whichever it is"
    )
    encoding: Encoding
    box: list[int] | None = Field(default=None, description=BOX_DESCRIPTION)
    input: list[list[float]] = Field(
        description="the 28×28 the network saw, scaled to [0, 1] (gray level / 255)"
    )
    predicted: int = Field(ge=0, le=9, description="the backend's digit")
    probabilities: list[float] = Field(
        description="the backend's, one per digit 0–9, as /v1/predict gives them"
    )
    digit: int = Field(ge=0, le=9, description="the digit explained: the query's, or predicted")
    gradient: InputMap = Field(
        description="the saliency map: d p[digit] / d input, per unit of ``input``'s [0, 1] "
        "scale (per gray level 0–255: divide by 255); positive where more ink raises p[digit]"
    )
    gradient_x_input: InputMap = Field(
        description="gradient × input: each pixel's first-order share of p[digit], the same "
        "whatever the input's scale; 0 where the input is 0"
    )
    layers: list[LayerGradient] = Field(description="gradient magnitudes, in network order")


class LayerSummary(BaseModel):
    name: str
    type: str
    output_shape: list[int]
    parameters: int
    activation: str | None = None
    filters: int | None = None
    units: int | None = None
    kernel_size: list[int] | None = None
    pool_size: list[int] | None = None
    strides: list[int] | None = None
    padding: str | None = None


class BlessingSummary(BaseModel):
    """A version's blessing.json: may it answer requests that name no version, and why."""

    status: BlessingStatus
    reason: str
    by: str = Field(description="the command that decided")
    at: str = Field(description="when, ISO 8601 in UTC")


class VersionSummary(BaseModel):
    version: str
    default: bool = Field(description="answers requests that name no version")
    blessing: BlessingSummary
    test_accuracy: float | None = Field(description="from the version's metrics.json")
    test_samples: int | None = Field(description="test images the accuracy was measured on")


class ModelSummary(BaseModel):
    model: str
    version: str
    versions: list[str] = Field(description="every version this server has loaded")
    default_version: str = Field(
        description="the version answering requests that name none: the newest blessed one"
    )
    blessing: BlessingSummary = Field(description="this version's blessing")
    loaded: list[VersionSummary] = Field(
        description="every loaded version: its blessing, its test metrics, which is the default"
    )
    backends: list[str]
    default_backend: str = Field(description="the backend answering requests that name none")
    default_backend_reason: str = Field(description="why it is that one")
    input_shape: list[int]
    layers: list[LayerSummary]
    total_parameters: int
    trainable_parameters: int
    card: dict[str, Any] = Field(description="metrics.json of this version: the model card")


class Status(BaseModel):
    status: str


class ErrorDetail(BaseModel):
    status: int
    code: str
    message: str


class ErrorResponse(BaseModel):
    """The one error shape of the whole API."""

    error: ErrorDetail
