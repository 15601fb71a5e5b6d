"""docs/tour.py, the NumPy library's illustrated tour, runs and shows what it claims."""

import importlib.util
import sys
from pathlib import Path

from PIL import Image

TOUR = Path(__file__).resolve().parents[2] / "docs" / "tour.py"
FIGURES = ["conv_stack.png", "maxpool.png", "c3_table.png", "lenet.png"]


def load_tour():
    """docs/ is not a package: import the script by its path (registered first, as its
    dataclasses look their module up in sys.modules)."""
    spec = importlib.util.spec_from_file_location("docs_tour", TOUR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_tour_writes_its_figures_and_its_checks_hold(tmp_path: Path) -> None:
    result = load_tour().main(["--out", str(tmp_path)])

    assert [path.name for path in result.figures] == FIGURES
    for name in FIGURES:
        with Image.open(tmp_path / name) as image:
            assert image.format == "PNG"
            assert min(image.size) > 300
    assert result.mask_matches
    assert result.c3_independent
    assert result.prediction == 7
