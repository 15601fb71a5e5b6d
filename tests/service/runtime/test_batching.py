"""The micro-batcher, with a stand-in model that records the batches it is given."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest

from service.errors import Overloaded
from service.observability.metrics import BatcherMetrics
from service.runtime.batching import MicroBatcher

pytestmark = pytest.mark.anyio


@pytest.fixture(
    params=[
        pytest.param("asyncio", id="asyncio"),
        pytest.param(("asyncio", {"use_uvloop": True}), id="uvloop"),  # as served
    ]
)
def anyio_backend(request: pytest.FixtureRequest) -> object:
    return request.param


class RecordingModel:
    """Answers each image with its own id; records batch sizes and the thread of each call.
    Closing ``gate`` holds it busy (in the worker thread only) to let a queue build up."""

    def __init__(self) -> None:
        self.batches: list[int] = []
        self.threads: list[str] = []
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()

    def __call__(self, images: np.ndarray) -> np.ndarray:
        self.entered.set()
        self.gate.wait(timeout=10)
        self.batches.append(len(images))
        self.threads.append(threading.current_thread().name)
        return np.repeat(images.reshape(len(images), -1)[:, :1], 10, axis=1)


def images(*ids: int) -> np.ndarray:
    return np.stack([np.full((28, 28, 1), i, np.float32) for i in ids])


def make(model: RecordingModel, **limits: float) -> MicroBatcher:
    options = {"max_images": 8, "max_delay": 0.0, "max_queue": 100, "inline_max": 0, **limits}
    return MicroBatcher(model, name="test", **options)


async def busy(model: RecordingModel, batcher: MicroBatcher) -> asyncio.Task[np.ndarray]:
    """Start a one-image request and return once the worker thread is held inside the model."""
    model.gate.clear()
    first = asyncio.create_task(batcher.predict(images(99)))
    while not model.entered.is_set():
        await asyncio.sleep(0.001)
    return first


def ids(result: np.ndarray) -> list[int]:
    return result[:, 0].astype(int).tolist()


async def test_requests_that_queue_while_the_model_is_busy_share_one_call():
    model = RecordingModel()
    batcher = make(model)
    first = await busy(model, batcher)
    waiting = [asyncio.create_task(batcher.predict(images(i))) for i in range(1, 6)]
    await asyncio.sleep(0.01)
    model.gate.set()
    assert ids(await first) == [99]
    assert [ids(await w) for w in waiting] == [[1], [2], [3], [4], [5]]
    assert model.batches == [1, 5]
    batcher.close()


async def test_requests_of_the_same_loop_turn_share_one_call_on_the_loop():
    model = RecordingModel()
    batcher = make(model, inline_max=8)
    results = await asyncio.gather(*(batcher.predict(images(i)) for i in range(3)))
    assert [ids(r) for r in results] == [[0], [1], [2]]
    assert model.batches == [3]
    assert model.threads == [threading.current_thread().name]  # run inline, no hand-off
    batcher.close()


async def test_batches_over_inline_max_run_in_the_worker_thread():
    model = RecordingModel()
    batcher = make(model, inline_max=2)
    await batcher.predict(images(0, 1))
    await batcher.predict(images(0, 1, 2))
    assert model.threads[0] == threading.current_thread().name
    assert model.threads[1].startswith("batcher-test")
    batcher.close()


async def test_a_batch_never_exceeds_max_images_and_keeps_request_order():
    model = RecordingModel()
    batcher = make(model, max_images=4)
    blocker = await busy(model, batcher)
    waiting = [asyncio.create_task(batcher.predict(images(2 * i, 2 * i + 1))) for i in range(5)]
    await asyncio.sleep(0.01)
    model.gate.set()
    await blocker
    assert [ids(await w) for w in waiting] == [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9]]
    assert model.batches == [1, 4, 4, 2]
    batcher.close()


async def test_a_request_larger_than_max_images_runs_alone():
    model = RecordingModel()
    batcher = make(model, max_images=2)
    assert (await batcher.predict(images(*range(5)))).shape == (5, 10)
    assert model.batches == [5]
    batcher.close()


async def test_a_full_queue_refuses_with_retry_after():
    model = RecordingModel()
    batcher = make(model, max_queue=3)
    first = await busy(model, batcher)
    queued = asyncio.create_task(batcher.predict(images(1, 2, 3)))
    await asyncio.sleep(0.01)
    with pytest.raises(Overloaded) as refused:
        await batcher.predict(images(4))
    assert refused.value.status_code == 503 and refused.value.headers == {"Retry-After": "1"}
    model.gate.set()
    assert ids(await first) == [99] and ids(await queued) == [1, 2, 3]
    assert ids(await batcher.predict(images(4))) == [4]  # room again once served
    batcher.close()


async def test_the_queue_counts_images_and_a_model_call_counts_rows():
    # A digit read over several views is several rows standing for one image: the queue's
    # limit counts it once, a model call's limit counts its rows.
    model = RecordingModel()
    batcher = make(model, max_images=4, max_queue=3)
    first = await busy(model, batcher)
    viewed = [asyncio.create_task(batcher.predict(images(i, i, i), count=1)) for i in (1, 2)]
    await asyncio.sleep(0.01)
    assert batcher.waiting() == 2
    batcher.admit()  # one more image fits: six rows are queued, but only two images
    with pytest.raises(Overloaded):
        batcher.admit(2)
    model.gate.set()
    assert ids(await first) == [99]
    assert [ids(await v) for v in viewed] == [[1, 1, 1], [2, 2, 2]]
    assert model.batches == [1, 3, 3], "two requests of 3 rows exceed a call's 4"
    assert batcher.waiting() == 0
    batcher.close()


async def test_admit_refuses_what_predict_would_and_counts_it_shed():
    model = RecordingModel()
    shed = []
    metrics = BatcherMetrics("test", "1")
    metrics.shed = lambda: shed.append(1)
    batcher = MicroBatcher(
        model, max_images=8, max_delay=0.0, max_queue=3, inline_max=0, name="test", metrics=metrics
    )
    first = await busy(model, batcher)
    queued = asyncio.create_task(batcher.predict(images(1, 2)))
    await asyncio.sleep(0.01)
    batcher.admit()  # room for one more image
    with pytest.raises(Overloaded) as refused:
        batcher.admit(2)
    assert refused.value.headers == {"Retry-After": "1"}
    assert shed == [1]
    model.gate.set()
    await first, await queued
    batcher.admit(3)
    batcher.close()


@pytest.mark.parametrize("inline_max", [0, 8])
async def test_a_failing_model_fails_every_request_of_the_batch(inline_max: int):
    calls = []

    def broken(batch: np.ndarray) -> np.ndarray:
        calls.append(len(batch))
        raise RuntimeError("backend crashed")

    batcher = MicroBatcher(
        broken, max_images=8, max_delay=0.0, max_queue=100, inline_max=inline_max, name="broken"
    )
    results = await asyncio.gather(
        *(batcher.predict(images(i)) for i in range(3)), return_exceptions=True
    )
    assert all(isinstance(r, RuntimeError) and "crashed" in str(r) for r in results)
    assert calls == [3]
    with pytest.raises(RuntimeError):  # still serving, and failing the same way
        await batcher.predict(images(0))
    batcher.close()


async def test_a_client_that_went_away_does_not_disturb_its_batch():
    model = RecordingModel()
    batcher = make(model)
    first = await busy(model, batcher)
    gone = asyncio.create_task(batcher.predict(images(1)))
    stays = asyncio.create_task(batcher.predict(images(2)))
    await asyncio.sleep(0.01)
    gone.cancel()
    model.gate.set()
    assert ids(await first) == [99] and ids(await stays) == [2]
    batcher.close()


async def test_close_still_answers_what_is_queued():
    model = RecordingModel()
    batcher = make(model, max_images=2)
    first = await busy(model, batcher)
    queued = [asyncio.create_task(batcher.predict(images(i, i))) for i in range(3)]
    await asyncio.sleep(0.01)
    batcher.close()  # as a version's unload timer does, from its own thread
    model.gate.set()
    assert ids(await first) == [99]
    assert [ids(await q) for q in queued] == [[0, 0], [1, 1], [2, 2]]


async def test_a_request_after_close_is_answered_alone_in_a_thread_of_its_own():
    """It chose the version before it was unloaded (a slow body can take longer than the
    repository's 30 s of grace): answered by that version, not refused."""
    model = RecordingModel()
    batcher = make(model)
    assert ids(await batcher.predict(images(1))) == [1]
    batcher.close()
    assert ids(await batcher.predict(images(2, 3))) == [2, 3]
    assert model.batches == [1, 2]
    assert not model.threads[-1].startswith("batcher-")  # its worker has stopped
    assert batcher.waiting() == 0


async def test_max_delay_gathers_requests_that_arrive_soon_after():
    model = RecordingModel()
    batcher = make(model, max_delay=1.0)
    first = asyncio.create_task(batcher.predict(images(0)))
    while not batcher.waiting():  # turns of the loop, not time: a stall of a loaded
        await asyncio.sleep(0)  # machine must not outlast the delay (CI saw one do so)
    await asyncio.sleep(0)
    assert not first.done()  # a batch of one, not full, waits out the delay
    second = asyncio.create_task(batcher.predict(images(1)))
    assert ids(await first) == [0] and ids(await second) == [1]
    assert model.batches == [2]
    batcher.close()


async def test_requests_that_waited_out_a_running_batch_do_not_wait_max_delay_again():
    model = RecordingModel()
    batcher = make(model, max_images=2, max_delay=30.0)
    model.gate.clear()
    first = asyncio.create_task(batcher.predict(images(0, 1)))  # full: goes at once
    while not model.entered.is_set():
        await asyncio.sleep(0.001)
    second = asyncio.create_task(batcher.predict(images(2)))  # queues behind it
    await asyncio.sleep(0.01)
    model.gate.set()
    assert ids(await asyncio.wait_for(first, 5)) == [0, 1]
    assert ids(await asyncio.wait_for(second, 5)) == [2]
    batcher.close()


async def test_a_full_batch_does_not_wait_out_max_delay():
    model = RecordingModel()
    batcher = make(model, max_images=2, max_delay=30.0)
    results = await asyncio.wait_for(
        asyncio.gather(batcher.predict(images(0)), batcher.predict(images(1))), timeout=5
    )
    assert [ids(r) for r in results] == [[0], [1]]
    batcher.close()
