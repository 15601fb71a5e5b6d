"""training.photo_form: training digits redrawn as photographed digits reach the network."""

from __future__ import annotations

import dataclasses

import numpy as np

from service.api.examples import EXAMPLE_ARRAY
from service.inputs.mnist_form import BOX, stroke_width
from training.data import Mnist
from training.photo_form import photo_forms
from training.recipes import BEST, LECTURE
from training.splits import training_splits

SEVEN = np.array(EXAMPLE_ARRAY, np.uint8)  # MNIST's first test digit


def ink_extent(image: np.ndarray) -> tuple[int, int]:
    rows, cols = np.nonzero(image > 64)
    return int(np.ptp(rows)) + 1, int(np.ptp(cols)) + 1


def test_photo_forms_are_mnist_shaped_uint8_and_deterministic() -> None:
    digits = np.stack([SEVEN] * 8)
    once, again = photo_forms(digits, seed=3), photo_forms(digits, seed=3)
    assert once.dtype == np.uint8 and once.shape == digits.shape
    np.testing.assert_array_equal(once, again)
    assert not np.array_equal(once, photo_forms(digits, seed=4))


def test_a_digit_turned_out_of_the_frame_is_kept_as_it_was() -> None:
    corner = np.zeros((28, 28), np.uint8)
    corner[0, :2] = 255, 200  # a speck in a corner: a turn of a few degrees moves it out
    forms = photo_forms(np.stack([corner] * 4), seed=1)  # seed 1 turns the first one out
    np.testing.assert_array_equal(forms[0], corner)


def test_photo_forms_keep_the_digit_in_mnists_box_and_centre() -> None:
    for form in photo_forms(np.stack([SEVEN] * 20), seed=0):
        assert max(ink_extent(form)) <= BOX + 1
        rows, cols = np.indices(form.shape)
        mass = form.astype(np.float64)
        centre = (rows * mass).sum() / mass.sum(), (cols * mass).sum() / mass.sum()
        assert abs(centre[0] - 14) <= 1 and abs(centre[1] - 14) <= 1


def test_photo_forms_vary_the_stroke_width_as_pens_do() -> None:
    widths = [stroke_width(f / 255) for f in photo_forms(np.stack([SEVEN] * 40), seed=1)]
    assert max(widths) - min(widths) > 0.8  # MNIST's own span from 1st to 99th percentile: ~2.5


def test_the_best_recipe_fits_on_a_photo_form_of_every_digit_and_validates_on_mnist() -> None:
    rng = np.random.default_rng(0)
    images = np.stack([np.roll(SEVEN, int(rng.integers(-2, 3)), axis=1) for _ in range(50)])
    labels = np.full(50, 7, np.uint8)
    data = Mnist(images, labels, images[:5], labels[:5], source="test")
    (x_fit, y_fit), (x_val, y_val) = training_splits(data, BEST, seed=0)
    held = round(50 * BEST.validation_split)
    assert len(x_fit) == 2 * (50 - held) and len(y_fit) == len(x_fit)
    np.testing.assert_array_equal(x_val, images[-held:])  # validation stays MNIST's own
    lecture = dataclasses.replace(LECTURE, validation_split=BEST.validation_split)
    (plain, _), _ = training_splits(data, lecture, seed=0)
    assert len(plain) == 50 - held
