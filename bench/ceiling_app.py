"""The framework's ceiling: a minimal FastAPI app that parses the same bodies as
``/v1/predict`` and answers a constant, run by the same uvicorn as the service.

"Parses the same body" means the least work any correct server must do before inference:
read the body, then turn it into pixels — a PNG is decoded by Pillow into a (28, 28) array,
JSON is parsed by the framework's own ``request.json()`` and converted to a (28, 28) array.
No MNIST normalisation, no inference, no thread pool: the handler runs on the event loop, the
fastest path FastAPI offers. The constant is shaped like a real prediction, so responses cost
the same bytes on the wire.

``uvicorn bench.ceiling_app:app``
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from PIL import Image

ANSWER: dict[str, Any] = {
    "model": "lenet",
    "version": "1",
    "backend": "ceiling",
    "predictions": [
        {"digit": 7, "probability": 0.99, "probabilities": [0.001] * 7 + [0.99] + [0.001] * 2}
    ],
}

app = FastAPI(title="framework ceiling")


@app.get("/readyz")
async def get_readiness() -> dict[str, str]:
    return {"status": "ready"}


@app.post("/v1/predict", response_model=None)
async def predict_constant(request: Request) -> dict[str, Any] | JSONResponse:
    """Decode the body to pixels, then answer the constant (415 for other types, like ours)."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip()
    if media_type == "image/png":
        with Image.open(io.BytesIO(await request.body())) as image:
            pixels = np.asarray(image.convert("L"))  # (28, 28) uint8
    elif media_type == "application/json":
        document = await request.json()
        pixels = np.asarray(document["instances"][0], dtype=np.float32)  # (28, 28)
    else:
        return JSONResponse({"error": "unsupported media type"}, status_code=415)
    if pixels.shape != (28, 28):
        return JSONResponse({"error": "not 28x28"}, status_code=422)
    return ANSWER
