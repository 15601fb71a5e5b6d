"""The batcher's figures — queue depth, shed requests, model calls — driven directly, with a
stand-in model held busy so that a queue builds up. Each test has labels of its own."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest
from prometheus_client import REGISTRY

from service.errors import Overloaded
from service.observability.metrics import BatcherMetrics
from service.runtime.batching import MicroBatcher

pytestmark = pytest.mark.anyio


class HeldModel:
    """Answers zeros; while ``gate`` is clear it holds the worker thread inside the call."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.entered = threading.Event()

    def __call__(self, images: np.ndarray) -> np.ndarray:
        self.entered.set()
        self.gate.wait(timeout=10)
        return np.zeros((len(images), 10), np.float32)


def images(count: int) -> np.ndarray:
    return np.zeros((count, 28, 28, 1), np.float32)


def sample(name: str, version: str) -> float:
    return REGISTRY.get_sample_value(name, {"backend": "held", "version": version}) or 0.0


async def held_batcher(
    version: str, max_queue: int
) -> tuple[HeldModel, MicroBatcher, asyncio.Task]:
    """A batcher whose worker thread is inside the model on a one-image request."""
    model = HeldModel()
    batcher = MicroBatcher(
        model,
        max_images=8,
        max_delay=0.0,
        max_queue=max_queue,
        inline_max=0,
        name="held",
        metrics=BatcherMetrics("held", version),
    )
    first = asyncio.create_task(batcher.predict(images(1)))
    while not model.entered.is_set():
        await asyncio.sleep(0.001)
    return model, batcher, first


async def test_queue_depth_is_the_images_waiting_for_a_model_call():
    model, batcher, first = await held_batcher("queue", max_queue=100)
    assert sample("lenet_queued_images", "queue") == 0  # the first image is in the model
    waiting = [asyncio.create_task(batcher.predict(images(2))) for _ in range(3)]
    await asyncio.sleep(0.01)
    assert sample("lenet_queued_images", "queue") == 6
    model.gate.set()
    await asyncio.gather(first, *waiting)
    assert sample("lenet_queued_images", "queue") == 0
    assert sample("lenet_batch_size_count", "queue") == 2  # 1 image, then the 6 that waited
    assert sample("lenet_batch_size_sum", "queue") == 7
    assert sample("lenet_inference_duration_seconds_count", "queue") == 2
    batcher.close()


async def test_requests_refused_for_a_full_queue_are_counted_as_shed():
    model, batcher, first = await held_batcher("shed", max_queue=4)
    fits = asyncio.create_task(batcher.predict(images(4)))
    await asyncio.sleep(0.01)
    with pytest.raises(Overloaded):
        await batcher.predict(images(1))
    assert sample("lenet_shed_requests_total", "shed") == 1
    assert sample("lenet_queued_images", "shed") == 4  # the refused image never queued
    model.gate.set()
    await asyncio.gather(first, fits)
    assert sample("lenet_queued_images", "shed") == 0
    batcher.close()
