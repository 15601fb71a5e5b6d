"""The micro-batcher, with a stand-in model that records the batches it is given."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from service.batching import MicroBatcher
from service.errors import ModelNotReady, Overloaded


class RecordingModel:
    """Answers each image with its own id, and can be held busy to let a queue build up."""

    def __init__(self) -> None:
        self.batches: list[int] = []
        self.gate = threading.Event()
        self.gate.set()

    def __call__(self, images: np.ndarray) -> np.ndarray:
        self.gate.wait(timeout=10)
        self.batches.append(len(images))
        return np.repeat(images.reshape(len(images), -1)[:, :1], 10, axis=1)


def images(*ids: int) -> np.ndarray:
    return np.stack([np.full((28, 28, 1), i, np.float32) for i in ids])


def wait_until_taken(batcher: MicroBatcher) -> None:
    """Until the worker has taken everything queued (it is then blocked in the model)."""
    deadline = time.monotonic() + 5
    while batcher._queued_images:
        assert time.monotonic() < deadline, "the worker never took the request"
        time.sleep(0.001)


def make(model: RecordingModel, **limits: float) -> MicroBatcher:
    options = {"max_batch": 8, "max_delay": 0.0, "max_queue": 100, **limits}
    return MicroBatcher(model, name="test", **options)


def test_requests_that_queue_while_the_model_is_busy_share_one_call():
    model = RecordingModel()
    batcher = make(model)
    model.gate.clear()
    first = batcher.submit(images(0))
    wait_until_taken(batcher)
    waiting = [batcher.submit(images(i)) for i in range(1, 6)]
    model.gate.set()
    assert first.result(timeout=10)[0, 0] == 0
    assert [f.result(timeout=10)[0, 0] for f in waiting] == [1, 2, 3, 4, 5]
    assert model.batches == [1, 5]
    batcher.close()


def test_a_batch_never_exceeds_max_batch_and_keeps_request_order():
    model = RecordingModel()
    batcher = make(model, max_batch=4)
    model.gate.clear()
    blocker = batcher.submit(images(99))
    wait_until_taken(batcher)
    futures = [batcher.submit(images(2 * i, 2 * i + 1)) for i in range(5)]
    model.gate.set()
    blocker.result(timeout=10)
    results = [f.result(timeout=10)[:, 0].tolist() for f in futures]
    assert results == [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9]]
    assert model.batches == [1, 4, 4, 2]
    batcher.close()


def test_a_request_larger_than_max_batch_runs_alone():
    model = RecordingModel()
    batcher = make(model, max_batch=2)
    assert batcher.submit(images(*range(5))).result(timeout=10).shape == (5, 10)
    assert model.batches == [5]
    batcher.close()


def test_a_full_queue_refuses_with_retry_after():
    model = RecordingModel()
    batcher = make(model, max_queue=3)
    model.gate.clear()
    batcher.submit(images(0))
    wait_until_taken(batcher)
    batcher.submit(images(1, 2, 3))
    with pytest.raises(Overloaded) as refused:
        batcher.submit(images(4))
    assert refused.value.status_code == 503 and refused.value.headers == {"Retry-After": "1"}
    model.gate.set()
    batcher.close()


def test_a_failing_model_fails_every_request_of_the_batch():
    def broken(_: np.ndarray) -> np.ndarray:
        raise RuntimeError("backend crashed")

    batcher = MicroBatcher(broken, max_batch=8, max_delay=0.01, max_queue=100, name="broken")
    futures = [batcher.submit(images(i)) for i in range(3)]
    for future in futures:
        with pytest.raises(RuntimeError, match="backend crashed"):
            future.result(timeout=10)
    assert batcher.submit(images(0)).exception(timeout=10) is not None  # still serving
    batcher.close()


def test_close_finishes_queued_work_then_refuses():
    model = RecordingModel()
    batcher = make(model, max_delay=0.05)
    pending = [batcher.submit(images(i)) for i in range(3)]
    batcher.close()
    assert [f.result(timeout=10)[0, 0] for f in pending] == [0, 1, 2]
    with pytest.raises(ModelNotReady):
        batcher.submit(images(3))


def test_max_delay_gathers_requests_that_arrive_soon_after():
    model = RecordingModel()
    batcher = make(model, max_delay=0.5)
    first = batcher.submit(images(0))
    second = batcher.submit(images(1))
    assert first.result(timeout=10)[0, 0] == 0 and second.result(timeout=10)[0, 0] == 1
    assert model.batches == [2]
    batcher.close()
