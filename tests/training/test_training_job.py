"""One short run on synthetic data, then checks on every file it publishes."""

import dataclasses
import errno
from pathlib import Path
from typing import NoReturn

import numpy as np
import pytest
import tensorflow as tf

import training.train
from model import artifacts
from model.numpy_lenet import read_weights
from model.spec import LAYER_NAMES, network_input
from training import export
from training.cli import main
from training.data import load_from_dir, subset
from training.recipes import BEST, LECTURE, Recipe
from training.result import TrainResult
from training.splits import split_validation
from training.train import train


@pytest.fixture(scope="module")
def trained(mnist_dir: Path) -> TrainResult:
    recipe = dataclasses.replace(BEST, epochs=1, batch_size=64)
    return train(recipe, load_from_dir(mnist_dir), seed=0, verbose=0)


def publish(trained: TrainResult, root: Path) -> Path:
    card = {"recipe": {"name": "test"}}
    blessing = artifacts.Blessing("candidate", "a test's")
    return export.export_version(
        trained.model, root, 1, history=trained.history, card=card, blessing=blessing
    )


def test_cli_one_epoch_writes_every_output_file(
    mnist_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--data-dir", str(mnist_dir), "--epochs", "1", "--output", str(tmp_path), "--seed", "3"]
    assert main([*args, "--floor", "0"]) == 0  # nothing blessed yet: the floor alone decides
    assert artifacts.list_versions(tmp_path) == [1]
    assert artifacts.VERSION_FILES <= {p.name for p in (tmp_path / "1").iterdir()}
    card = artifacts.read_json(tmp_path / "1" / artifacts.METRICS_FILE)
    assert card["version"] == 1 and card["parameters"] == 61_706
    assert card["recipe"]["name"] == "best" and card["epochs"] == 1
    assert 0.0 <= card["test_accuracy"] <= 1.0
    assert np.asarray(card["confusion_matrix"]).sum() == card["test_samples"]
    assert len(card["data"]["sha256"]) == 4
    assert "keras" in card["libraries"]
    layers = artifacts.read_json(tmp_path / "1" / artifacts.ARCHITECTURE_FILE)["layers"]
    assert [layer["name"] for layer in layers] == list(LAYER_NAMES)
    assert layers[4]["strides"] == [3, 3] and layers[4]["output_shape"] == [1, 1, 120]

    history = artifacts.read_json(tmp_path / "1" / artifacts.HISTORY_FILE)
    assert len(history["epoch_seconds"]) == len(history["loss"]) == 1
    assert 0 < history["epoch_seconds"][0] <= card["seconds"] + 0.05

    blessing = artifacts.read_blessing(tmp_path / "1")
    assert blessing.blessed and "no version was blessed to compare with" in blessing.reason
    assert capsys.readouterr().out.splitlines()[-1].startswith("v1 is blessed: test accuracy")

    assert main([*args, "--floor", "1"]) == 0  # the next run publishes the next version
    assert artifacts.list_versions(tmp_path) == [1, 2]
    second = artifacts.read_json(tmp_path / "2" / artifacts.METRICS_FILE)
    accuracy = f"{100 * second['test_accuracy']:.2f} %"
    last = capsys.readouterr().out.splitlines()[-1]  # published, but not served by default
    assert last.startswith("v2 is a candidate, not blessed: test accuracy") and accuracy in last
    assert "?version=2 on a service that keeps it loaded (LENET_KEEP_VERSIONS=2)" in last
    assert last.endswith("bless it with: python -m training.bless 2")
    assert artifacts.read_blessing(tmp_path / "2").status == "candidate"


def test_reloaded_saved_model_predicts_like_the_in_memory_model(
    trained: TrainResult, mnist_dir: Path, tmp_path: Path
) -> None:
    path = publish(trained, tmp_path)
    images = network_input(load_from_dir(mnist_dir).x_test)
    reloaded = tf.saved_model.load(str(path))
    expected = trained.model.predict(images, verbose=0)
    np.testing.assert_allclose(reloaded.serve(images).numpy(), expected, atol=1e-6)
    activations = reloaded.activations(images)
    assert set(activations) == set(LAYER_NAMES)
    np.testing.assert_allclose(activations["output"].numpy(), expected, atol=1e-6)


def test_weights_npz_holds_every_weight_with_keras_shapes(
    trained: TrainResult, tmp_path: Path
) -> None:
    path = publish(trained, tmp_path)
    weights = read_weights(path / artifacts.WEIGHTS_FILE)
    expected = {
        f"{layer.name}/{kind}": w.shape
        for layer in trained.model.layers
        for kind, w in zip(("kernel", "bias"), layer.get_weights(), strict=False)
    }
    assert {key: value.shape for key, value in weights.items()} == expected
    assert weights["conv1/kernel"].shape == (5, 5, 1, 6) and weights["output/bias"].shape == (10,)
    assert sum(w.size for w in weights.values()) == 61_706
    np.testing.assert_array_equal(
        weights["fc1/kernel"], trained.model.get_layer("fc1").kernel.numpy()
    )


def test_failed_export_leaves_no_partial_version(
    trained: TrainResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(*_args: object, **_kwargs: object) -> NoReturn:
        raise RuntimeError("disk full")

    monkeypatch.setattr(export, "plot_curves", crash)
    with pytest.raises(RuntimeError, match="disk full"):
        publish(trained, tmp_path)
    assert list(tmp_path.iterdir()) == []
    assert artifacts.list_versions(tmp_path) == []


def test_existing_version_is_never_overwritten(trained: TrainResult, tmp_path: Path) -> None:
    (tmp_path / "1").mkdir()
    with pytest.raises(FileExistsError):
        publish(trained, tmp_path)


@pytest.fixture
def trained_already(trained: TrainResult, monkeypatch: pytest.MonkeyPatch) -> TrainResult:
    """The CLI's training step hands back the module's one trained model at once."""
    monkeypatch.setattr(training.train, "train", lambda *_args, **_kwargs: trained)
    return trained


def test_cli_writes_version_0_when_asked(
    mnist_dir: Path, tmp_path: Path, trained_already: TrainResult
) -> None:
    assert main(["--data-dir", str(mnist_dir), "--output", str(tmp_path), "--version", "0"]) == 0
    assert artifacts.list_versions(tmp_path) == [0]
    assert artifacts.read_json(tmp_path / "0" / artifacts.METRICS_FILE)["version"] == 0


def test_cli_never_blesses_a_limited_run(
    mnist_dir: Path,
    tmp_path: Path,
    trained_already: TrainResult,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Nothing blessed and a floor of 0: only the --limit keeps it a candidate (here all of
    the synthetic data: 320 training and 384 // 6 = 64 test images)."""
    args = ["--data-dir", str(mnist_dir), "--output", str(tmp_path), "--floor", "0"]
    assert main([*args, "--limit", "384"]) == 0
    assert artifacts.read_json(tmp_path / "1" / artifacts.METRICS_FILE)["data"]["limit"] == 384
    assert artifacts.read_blessing(tmp_path / "1").status == "candidate"
    assert "a subset (--limit 384)" in capsys.readouterr().out
    assert main(args) == 0  # the same run on all the data is blessed
    assert artifacts.read_json(tmp_path / "2" / artifacts.METRICS_FILE)["data"]["limit"] is None
    assert artifacts.read_blessing(tmp_path / "2").blessed


def test_cli_reports_a_failed_publish_in_one_line(
    mnist_dir: Path,
    tmp_path: Path,
    trained_already: TrainResult,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def disk_full(*_args: object, **_kwargs: object) -> NoReturn:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(export, "export_version", disk_full)
    assert main(["--data-dir", str(mnist_dir), "--output", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err == "error: v1 was trained but not published: [Errno 28] No space left on device\n"


def test_cli_reports_a_version_another_job_took_during_training(
    mnist_dir: Path,
    tmp_path: Path,
    trained: TrainResult,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def racing(*_args: object, **_kwargs: object) -> TrainResult:
        (tmp_path / "1").mkdir()  # the other job publishes v1 while this one trains
        (tmp_path / "1" / "theirs").write_text("kept")
        return trained

    monkeypatch.setattr(training.train, "train", racing)
    assert main(["--data-dir", str(mnist_dir), "--output", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: v1 was trained but not published: ") and err.count("\n") == 1
    assert "already exists" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == [artifacts.LOCK_FILE, "1"]  # no staging
    assert [p.name for p in (tmp_path / "1").iterdir()] == ["theirs"]


@pytest.mark.parametrize(
    ("size", "fraction", "fit"),
    [(5, 0.1, 4), (2, 0.2, 1), (2, 0.9, 1), (10, 0.2, 8), (60_000, 0.1, 54_000)],
)
def test_split_validation_keeps_at_least_one_image_on_each_side(
    size: int, fraction: float, fit: int
) -> None:
    x, y = np.arange(size), np.arange(size) % 10
    (x_fit, y_fit), (x_val, y_val) = split_validation(x, y, fraction)
    assert len(x_fit) == len(y_fit) == fit and len(x_val) == len(y_val) == size - fit
    np.testing.assert_array_equal(np.concatenate([x_fit, x_val]), x)


def test_split_validation_refuses_a_single_image() -> None:
    with pytest.raises(ValueError, match="need 2 to fit and validate"):
        split_validation(np.zeros((1, 28, 28)), np.zeros(1), 0.1)


@pytest.mark.parametrize(("recipe", "limit"), [(BEST, 5), (LECTURE, 2)], ids=["best", "lecture"])
def test_train_fits_the_fewest_images_limit_allows(
    mnist_dir: Path, recipe: Recipe, limit: int
) -> None:
    data = subset(load_from_dir(mnist_dir), limit)
    result = train(dataclasses.replace(recipe, epochs=1), data, seed=0, verbose=0)
    assert len(result.history["loss"]) == len(result.history["val_accuracy"]) == 1
