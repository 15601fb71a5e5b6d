"""Training recipes: the same network, two ways to fit it."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import keras


@dataclass(frozen=True)
class Recipe:
    """Hyper-parameters of one way to train LeNet; recorded verbatim in metrics.json."""

    name: str
    optimizer: str
    learning_rate: float
    schedule: str  # "exponential" (per step, staircase off) or "cosine" (to zero at the end)
    decay_steps: int
    decay_rate: float
    momentum: float
    batch_size: int
    epochs: int
    validation_split: float
    augment: bool
    photo_form: bool  # add a copy of each training digit as photos reach the network
    keep_best: bool  # restore the epoch with the best validation accuracy at the end
    weight_decay: float  # decoupled, as AdamW
    ema: bool  # average the weights over the last steps, and keep the average
    description: str

    def build_optimizer(self, total_steps: int) -> keras.optimizers.Optimizer:
        if self.schedule == "exponential":
            lr = keras.optimizers.schedules.ExponentialDecay(
                self.learning_rate, decay_steps=self.decay_steps, decay_rate=self.decay_rate
            )
        else:
            lr = keras.optimizers.schedules.CosineDecay(self.learning_rate, max(total_steps, 1))
        if self.optimizer == "sgd":
            return keras.optimizers.SGD(learning_rate=lr, momentum=self.momentum)
        return keras.optimizers.Adam(
            learning_rate=lr,
            weight_decay=self.weight_decay or None,
            use_ema=self.ema,
            ema_momentum=0.999,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


LECTURE = Recipe(
    name="lecture",
    optimizer="sgd",
    learning_rate=1e-2,
    schedule="exponential",
    decay_steps=10_000,
    decay_rate=0.98,
    momentum=0.9,
    batch_size=512,
    epochs=20,
    validation_split=0.2,
    augment=False,
    photo_form=False,
    keep_best=False,
    weight_decay=0.0,
    ema=False,
    description="The lecture's run: SGD momentum 0.9, ExponentialDecay(1e-2, 10000, 0.98).",
)

BEST = Recipe(
    name="best",
    optimizer="adam",
    learning_rate=2e-3,
    schedule="cosine",
    decay_steps=0,
    decay_rate=0.0,
    momentum=0.0,
    batch_size=128,
    epochs=50,
    validation_split=0.1,
    augment=True,
    photo_form=True,
    keep_best=True,
    weight_decay=0.01,
    ema=False,
    description=(
        "Adam with decoupled weight decay and cosine decay to zero, light augmentation "
        "(shifts, rotations, zoom), and a copy of every training digit redrawn as a photographed "
        "digit reaches the network (training.photo_form); the epoch with the best validation "
        "accuracy is kept."
    ),
)

RECIPES = {recipe.name: recipe for recipe in (LECTURE, BEST)}
