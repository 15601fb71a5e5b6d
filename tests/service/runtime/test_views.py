"""Reading a digit over several views: which rows are run, and how they are averaged back."""

from __future__ import annotations

import numpy as np

from service.runtime import views


def form(seed: int) -> np.ndarray:
    """A 28x28x1 input with ink inside MNIST's 20x20 box (the margin empty, as in the form)."""
    image = np.zeros((28, 28, 1), np.float32)
    image[4:24, 4:24, 0] = np.random.default_rng(seed).random((20, 20))
    return image


def test_only_viewed_images_are_expanded_each_followed_by_its_moves() -> None:
    images = np.stack([form(1), form(2), form(3)])
    rows, counts = views.expand(images, np.array([False, True, False]))
    assert counts.tolist() == [1, views.VIEWS, 1]
    assert rows.shape == (views.VIEWS + 2, 28, 28, 1)
    np.testing.assert_array_equal(rows[0], images[0])
    np.testing.assert_array_equal(rows[1], images[1])  # the form itself first
    np.testing.assert_array_equal(rows[-1], images[2])
    # The first move shifts one pixel right: exact, since the margin is empty.
    np.testing.assert_allclose(rows[2], np.roll(images[1], 1, axis=1), atol=1e-6)
    moved = rows[2 : 1 + views.VIEWS]
    assert all(not np.array_equal(view, images[1]) for view in moved)


def test_average_takes_each_images_rows_mean_and_keeps_float32() -> None:
    rng = np.random.default_rng(0)
    probabilities = rng.random((views.VIEWS + 2, 10)).astype(np.float32)
    counts = np.array([1, views.VIEWS, 1])
    mean = views.average(probabilities, counts)
    assert mean.dtype == np.float32 and mean.shape == (3, 10)
    np.testing.assert_array_equal(mean[0], probabilities[0])
    np.testing.assert_allclose(mean[1], probabilities[1 : 1 + views.VIEWS].mean(axis=0), rtol=1e-6)
    np.testing.assert_array_equal(mean[2], probabilities[-1])
