"""Dynamic micro-batching: concurrent predict calls share one backend call.

As Triton's and TF Serving's batchers do: requests queue up, one worker thread per backend
takes whatever is waiting (up to ``max_batch`` images, waiting at most ``max_delay`` for
more) and runs it as one batch. Backends do much more work per call at batch 32 than at
batch 1 for nearly the same fixed cost, and a single worker keeps a 2-core machine from
running many model calls at once. A full queue refuses work (503 with Retry-After)
instead of growing without bound.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass

import numpy as np

from service.errors import ModelNotReady, Overloaded


@dataclass
class _Request:
    images: np.ndarray  # (n, 28, 28, 1)
    result: Future[np.ndarray]


class MicroBatcher:
    """Runs ``predict`` on batches gathered from concurrent ``submit`` calls, in one thread."""

    def __init__(
        self,
        predict: Callable[[np.ndarray], np.ndarray],
        *,
        max_batch: int,
        max_delay: float,
        max_queue: int,
        name: str,
    ) -> None:
        self._predict = predict
        self._max_batch = max_batch
        self._max_delay = max_delay
        self._max_queue = max_queue
        self._queue: deque[_Request] = deque()
        self._queued_images = 0
        self._closed = False
        self._wake = threading.Condition()
        self._worker = threading.Thread(target=self._serve, name=f"batcher-{name}", daemon=True)
        self._worker.start()

    def submit(self, images: np.ndarray) -> Future[np.ndarray]:
        """Queue ``images``; the future resolves to their (n, 10) probabilities."""
        request = _Request(images, Future())
        with self._wake:
            if self._closed:
                raise ModelNotReady("this model version is being unloaded; retry")
            if self._queued_images + len(images) > self._max_queue:
                raise Overloaded(
                    f"{self._queued_images} images are already waiting; retry shortly",
                    headers={"Retry-After": "1"},
                )
            self._queue.append(request)
            self._queued_images += len(images)
            self._wake.notify()
        return request.result

    def close(self) -> None:
        """Finish what is queued, then stop the worker."""
        with self._wake:
            self._closed = True
            self._wake.notify_all()
        self._worker.join()

    def _serve(self) -> None:
        while batch := self._next_batch():
            images = np.concatenate([request.images for request in batch])
            try:
                probabilities = self._predict(images)
            except Exception as exc:  # every waiting request learns why
                for request in batch:
                    request.result.set_exception(exc)
                continue
            start = 0
            for request in batch:
                stop = start + len(request.images)
                request.result.set_result(probabilities[start:stop])
                start = stop

    def _next_batch(self) -> list[_Request]:
        """Block for the first request, then gather more until full or the delay is up."""
        with self._wake:
            while not self._queue:
                if self._closed:
                    return []
                self._wake.wait()
            batch = [self._queue.popleft()]
            size = len(batch[0].images)
            deadline = time.monotonic() + self._max_delay
            while size < self._max_batch:
                if self._queue:
                    if size + len(self._queue[0].images) > self._max_batch:
                        break
                    batch.append(self._queue.popleft())
                    size += len(batch[-1].images)
                    continue
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._closed:
                    break
                self._wake.wait(remaining)
            self._queued_images -= size
            return batch
