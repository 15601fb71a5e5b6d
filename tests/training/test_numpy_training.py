"""The NumPy backend of the training job, and the parity check between the two backends."""

import shutil
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from model import artifacts
from model.numpy_lenet import Sequential, read_weights
from model.spec import LAYER_NAMES, network_input
from tests.bundled import VERSION
from training import numpy_train, parity
from training.cli import main
from training.data import load_from_dir
from training.recipes import BEST, LECTURE


@pytest.fixture(scope="module")
def numpy_run(mnist_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Sequential]:
    """One epoch of ``--backend numpy`` through the CLI, keeping the NumPy net that trained."""
    root = tmp_path_factory.mktemp("numpy-run")
    trained: dict[str, Sequential] = {}

    def keep_net(net: Sequential) -> keras.Sequential:
        trained["net"] = net
        return to_keras(net)

    to_keras = numpy_train.to_keras
    args = ["--backend", "numpy", "--recipe", "lecture", "--data-dir", str(mnist_dir)]
    args += ["--epochs", "1", "--batch-size", "64", "--output", str(root)]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(numpy_train, "to_keras", keep_net)
        assert main(args) == 0
    return root / "1", trained["net"]


def test_numpy_backend_writes_every_output_file_and_says_numpy(
    numpy_run: tuple[Path, Sequential],
) -> None:
    path, _ = numpy_run
    assert artifacts.VERSION_FILES <= {p.name for p in path.iterdir()}
    card = artifacts.read_json(path / artifacts.METRICS_FILE)
    assert card["training_backend"] == "numpy"
    assert card["recipe"] == LECTURE.to_dict() | {"epochs": 1, "batch_size": 64}
    assert card["epochs"] == 1 and card["parameters"] == 61_706
    assert np.asarray(card["confusion_matrix"]).sum() == card["test_samples"]
    history = artifacts.read_json(path / artifacts.HISTORY_FILE)
    assert set(history) == {"loss", "accuracy", "val_loss", "val_accuracy", "epoch_seconds"}
    assert all(len(values) == 1 for values in history.values())
    assert history["epoch_seconds"][0] > 0


def test_exported_saved_model_predicts_like_the_numpy_net_that_trained_it(
    numpy_run: tuple[Path, Sequential], mnist_dir: Path
) -> None:
    path, net = numpy_run
    data = load_from_dir(mnist_dir)
    images = network_input(data.x_test)
    expected = net.predict(images)
    saved = tf.saved_model.load(str(path))
    np.testing.assert_allclose(saved.serve(images).numpy(), expected, atol=1e-5)
    weights = read_weights(path / artifacts.WEIGHTS_FILE)
    for key, value in net.get_weights().items():
        np.testing.assert_array_equal(weights[key], value)
    card = artifacts.read_json(path / artifacts.METRICS_FILE)
    accuracy = np.mean(expected.argmax(axis=1) == data.y_test)
    assert card["test_accuracy"] == pytest.approx(accuracy, abs=1e-6)


def test_numpy_recipe_names_what_it_drops(mnist_dir: Path) -> None:
    assert numpy_train.numpy_recipe(LECTURE) == LECTURE
    adapted = numpy_train.numpy_recipe(BEST)
    assert not adapted.augment and adapted.optimizer == "adam" and adapted.keep_best
    assert "NumPy backend" in adapted.description and "augmentation" in adapted.description
    with pytest.raises(ValueError, match="augmentation"):
        numpy_train.train_numpy(BEST, load_from_dir(mnist_dir), seed=0)


def test_cosine_decay_follows_keras() -> None:
    ours = numpy_train.cosine_decay(2e-3, 100)
    theirs = keras.optimizers.schedules.CosineDecay(2e-3, 100)
    for step in (0, 1, 37, 99, 100, 150):  # Keras computes in float32, hence abs
        assert ours(step) == pytest.approx(float(theirs(step)), abs=1e-8)


def test_bundled_model_has_parity_on_synthetic_images(mnist_dir: Path) -> None:
    data = load_from_dir(mnist_dir)
    result = parity.compare(VERSION, network_input(data.x_train), data.y_train)
    assert result.images == 320 and set(result.layer_max_diff) == set(LAYER_NAMES)
    assert result.differing_digits == 0
    assert result.max_probability_diff <= parity.TOLERANCE
    assert result.ok


def test_parity_cli_fails_when_the_weights_disagree(
    mnist_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    version = tmp_path / "1"
    shutil.copytree(VERSION, version)
    weights = read_weights(version / artifacts.WEIGHTS_FILE)
    weights["output/bias"] = weights["output/bias"] + np.arange(10, dtype=np.float32)
    artifacts.save_weights(version / artifacts.WEIGHTS_FILE, weights)
    assert parity.main(["--model", str(version), "--data-dir", str(mnist_dir)]) == 1
    assert capsys.readouterr().out.rstrip().endswith("FAIL")
