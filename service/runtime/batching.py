"""Dynamic micro-batching: concurrent predict calls share one backend call.

As Triton's and TF Serving's batchers do: requests queue up and are run together, up to
``max_images`` rows (an image each, or each of its views), waiting at most ``max_delay`` for
more. Backends do much more work per call at batch 32 than at batch 1 for nearly the same
fixed cost. A full queue (``max_queue`` images) refuses work (503 with Retry-After) instead of
growing without bound.

The queue lives on the event loop, not behind a lock: requests that arrive in the same turn
of the loop are gathered by a callback scheduled for the next turn. A batch of at most
``inline_max`` images then runs right there, on the loop: for a LeNet on ONNX Runtime or
NumPy that is tens of microseconds, less than handing it to a thread and back (two
wake-ups and a GIL hand-over on a loaded 2-core machine). Larger batches, and
every batch of a backend that is slow per call, run in the batcher's one worker thread while
the loop goes on reading requests; what queues meanwhile becomes the next batch. One worker
per backend keeps a small machine from running many model calls at once.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from service.errors import Overloaded
from service.observability.metrics import BatcherMetrics


@dataclass
class _Request:
    images: np.ndarray  # (n, 28, 28, 1): the rows the model runs
    result: asyncio.Future[np.ndarray]
    count: int  # the images they stand for, which the queue's limit counts


class MicroBatcher:
    """Runs ``predict`` on batches gathered from concurrent ``predict`` awaits on one loop;
    with ``metrics``, records the queue, the requests it sheds and each model call."""

    def __init__(
        self,
        predict: Callable[[np.ndarray], np.ndarray],
        *,
        max_images: int,
        max_delay: float,
        max_queue: int,
        inline_max: int,
        name: str,
        metrics: BatcherMetrics | None = None,
    ) -> None:
        self._predict = predict if metrics is None else metrics.timed(predict)
        self._metrics = metrics
        self._max_images = max_images
        self._max_delay = max_delay
        self._max_queue = max_queue
        self._inline_max = inline_max
        self._queue: deque[_Request] = deque()
        self._queued_images = 0  # what the queue's limit and its metric count
        self._queued_rows = 0  # what a model call's limit counts
        self._flush_at: asyncio.Handle | None = None  # uvloop's handles duck-type it
        self._gathering = False  # the flush waits out max_delay for more requests
        self._running = False  # a batch is in the worker thread
        self._closed = False
        self._worker = ThreadPoolExecutor(1, thread_name_prefix=f"batcher-{name}")
        self._queue_moved = None if metrics is None else metrics.follow_queue(self.waiting)

    async def predict(self, images: np.ndarray, *, count: int | None = None) -> np.ndarray:
        """(n, 28, 28, 1) rows → their (n, 10) probabilities, batched with their neighbours.
        ``count``: how many images the rows stand for (``service.runtime.views`` reads one
        image as several rows), as the queue's limit counts them; one per row by default."""
        if self._closed:  # its version was unloaded after the request chose it
            return await asyncio.to_thread(self._predict, images)
        count = len(images) if count is None else count
        self.admit(count)
        loop = asyncio.get_running_loop()
        request = _Request(images, loop.create_future(), count)
        self._queue.append(request)
        self._queued_images += count
        self._queued_rows += len(images)
        if self._queue_moved is not None:
            self._queue_moved(count)
        self._schedule(loop)
        return await request.result

    def admit(self, images: int = 1) -> None:
        """503 with Retry-After, counted as shed, unless ``images`` more fit in the queue.
        ``predict`` asks it first; ``service.admission`` asks it (for one image) before a
        request's body is read, so that a refusal costs no reading and no parsing."""
        if self._queued_images + images > self._max_queue:
            if self._metrics is not None:
                self._metrics.shed()
            raise Overloaded(
                f"{self._queued_images} images are already waiting; retry shortly",
                headers={"Retry-After": "1"},
            )

    def waiting(self) -> int:
        """Images in the queue, not yet in a model call."""
        return self._queued_images

    def close(self) -> None:
        """Stop batching: what is queued is still answered, and a request that comes later
        is run alone in a thread of its own. It chose this version before it was unloaded
        (the repository closes a version 30 s after dropping it), and a request may take
        longer than that to arrive here (its body read slowly, its images waiting to be
        decoded): it is answered by the version it chose, not refused. Safe from any
        thread."""
        self._closed = True
        self._worker.shutdown(wait=False)

    def _schedule(self, loop: asyncio.AbstractEventLoop, *, waited: bool = False) -> None:
        """Arrange the next flush: after ``max_delay`` while a batch is gathering, or on the
        loop's next turn once it is full or its requests ``waited`` out a running batch."""
        if self._running or not self._queue:
            return
        now = waited or not self._max_delay or self._queued_rows >= self._max_images
        if self._flush_at is not None:
            if not (now and self._gathering):
                return
            self._flush_at.cancel()  # the delay is for gathering; a full batch goes now
        self._gathering = not now
        if now:
            self._flush_at = loop.call_soon(self._flush, loop)
        else:
            self._flush_at = loop.call_later(self._max_delay, self._flush, loop)

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        self._flush_at = None
        batch = self._take()
        try:
            images = np.concatenate([request.images for request in batch])
            if len(images) > self._inline_max and self._hand_off(loop, batch, images):
                return
            probabilities = self._predict(images)
        except Exception as exc:  # every waiting request learns why
            _fail(batch, exc)
        else:
            _answer(batch, probabilities)
        self._schedule(loop, waited=True)

    def _hand_off(
        self, loop: asyncio.AbstractEventLoop, batch: list[_Request], images: np.ndarray
    ) -> bool:
        """Run the batch in the worker thread; False if closed, to run it here instead."""
        try:
            running = self._worker.submit(self._predict, images)
        except RuntimeError:  # closed: the executor takes no more work
            return False
        self._running = True

        def finished(done: Future[np.ndarray]) -> None:
            try:
                loop.call_soon_threadsafe(self._finish, loop, batch, done)
            except RuntimeError:  # the loop itself is closed: nobody is waiting any more
                self._running = False

        running.add_done_callback(finished)
        return True

    def _finish(
        self, loop: asyncio.AbstractEventLoop, batch: list[_Request], done: Future[np.ndarray]
    ) -> None:
        self._running = False
        if (error := done.exception()) is not None:
            _fail(batch, error)
        else:
            _answer(batch, done.result())
        self._schedule(loop, waited=True)

    def _take(self) -> list[_Request]:
        """The oldest request, then more in order while their rows fit in ``max_images``."""
        batch = [self._queue.popleft()]
        rows = len(batch[0].images)
        while self._queue and rows + len(self._queue[0].images) <= self._max_images:
            batch.append(self._queue.popleft())
            rows += len(batch[-1].images)
        count = sum(request.count for request in batch)
        self._queued_rows -= rows
        self._queued_images -= count
        if self._queue_moved is not None:
            self._queue_moved(-count)
        return batch


def _answer(batch: list[_Request], probabilities: np.ndarray) -> None:
    start = 0
    for request in batch:
        stop = start + len(request.images)
        if not request.result.done():  # its client may have gone away
            request.result.set_result(probabilities[start:stop])
        start = stop


def _fail(batch: list[_Request], error: BaseException) -> None:
    for request in batch:
        if not request.result.done():
            request.result.set_exception(error)
