"""The naive service most tutorials ship: a Keras model loaded at import and one
``model.predict`` per request, called right in an ``async def`` route.

It decodes the same bodies as the ceiling app (Pillow for PNG, ``request.json()`` for JSON)
and scales to [0, 1]; it skips our MNIST normalisation, which the example digit does not need.
The model file comes from ``BENCH_NAIVE_MODEL`` (a ``model.keras``), which the harness sets.

``BENCH_NAIVE_MODEL=artifacts/lenet/1/model.keras uvicorn bench.naive_app:app``
"""

from __future__ import annotations

import io
import os
from typing import Any

import keras
import numpy as np
from fastapi import FastAPI, Request
from PIL import Image

model = keras.models.load_model(os.environ.get("BENCH_NAIVE_MODEL", "model.keras"))
app = FastAPI(title="naive Keras service")


@app.get("/readyz")
async def get_readiness() -> dict[str, str]:
    return {"status": "ready"}


@app.post("/v1/predict")
async def predict_digit(request: Request) -> dict[str, Any]:
    if request.headers.get("content-type", "").startswith("image/"):
        with Image.open(io.BytesIO(await request.body())) as image:
            pixels = np.asarray(image.convert("L").resize((28, 28)), dtype=np.float32)
    else:
        pixels = np.asarray((await request.json())["instances"][0], dtype=np.float32)
    probabilities = model.predict(pixels.reshape(1, 28, 28, 1) / 255.0)[0]
    digit = int(np.argmax(probabilities))
    return {
        "digit": digit,
        "probability": float(probabilities[digit]),
        "probabilities": probabilities.tolist(),
    }
