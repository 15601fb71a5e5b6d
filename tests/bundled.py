"""The model the repository ships, as the tests see it: a model root that holds version 1 alone.

Tests that served ``artifacts/lenet`` itself served whatever a user had trained and blessed
there since (the README walks them through it), and failed on versions and probabilities that
were never theirs to check. ``tests/data/bundled-model/1`` is a link to ``artifacts/lenet/1``,
so the tests read the shipped files, blessing included, and nothing else.
"""

from pathlib import Path

MODEL_ROOT = Path(__file__).resolve().parent / "data" / "bundled-model"
VERSION = MODEL_ROOT / "1"
