import gzip
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from training.cli import main
from training.data import (
    IDX_FILES,
    MnistUnavailable,
    load_from_dir,
    read_idx,
    subset,
    write_idx,
)


def test_read_idx_round_trips_what_write_idx_wrote(tmp_path: Path) -> None:
    images = np.arange(3 * 28 * 28, dtype=np.uint32).reshape(3, 28, 28).astype(np.uint8)
    write_idx(tmp_path / "x.gz", images)
    np.testing.assert_array_equal(read_idx(tmp_path / "x.gz"), images)


def test_read_idx_reads_the_canonical_header(tmp_path: Path) -> None:
    raw = bytes([0, 0, 8, 1]) + (3).to_bytes(4, "big") + bytes([7, 8, 9])
    (tmp_path / "labels.gz").write_bytes(gzip.compress(raw))
    np.testing.assert_array_equal(read_idx(tmp_path / "labels.gz"), [7, 8, 9])


def test_read_idx_rejects_a_truncated_file(tmp_path: Path) -> None:
    raw = bytes([0, 0, 8, 1]) + (5).to_bytes(4, "big") + bytes([1, 2])
    (tmp_path / "short.gz").write_bytes(gzip.compress(raw))
    with pytest.raises(ValueError, match="holds 2 values"):
        read_idx(tmp_path / "short.gz")


def test_load_from_dir_reads_all_four_files_and_hashes_them(mnist_dir: Path) -> None:
    data = load_from_dir(mnist_dir)
    assert data.x_train.shape == (320, 28, 28) and data.y_test.shape == (64,)
    assert len(data.sha256) == 4 and all(len(h) == 64 for h in data.sha256.values())


def test_subset_keeps_the_first_images_and_a_sixth_as_many_test_images(mnist_dir: Path) -> None:
    data = load_from_dir(mnist_dir)
    small = subset(data, 60)
    assert small.x_train.shape == (60, 28, 28) and small.y_test.shape == (10,)
    np.testing.assert_array_equal(small.x_test, data.x_test[:10])
    assert small.sha256 == data.sha256 and subset(data, None) is data


def test_missing_data_dir_names_both_options(tmp_path: Path) -> None:
    with pytest.raises(MnistUnavailable) as err:
        load_from_dir(tmp_path / "nowhere")
    assert "--data-dir" in str(err.value) and "keras.datasets.mnist" in str(err.value)


def test_cli_reports_missing_data_dir_clearly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--data-dir", str(tmp_path / "nowhere"), "--output", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "MNIST is not available" in err and "--data-dir" in err and "Traceback" not in err


def copy_with(mnist_dir: Path, folder: Path, replaced: dict[str, bytes]) -> Path:
    """The synthetic MNIST folder with some files' bytes replaced (keyed as IDX_FILES)."""
    folder.mkdir()
    for key, name in IDX_FILES.items():
        data = replaced.get(key, (mnist_dir / name).read_bytes())
        (folder / name).write_bytes(data)
    return folder


def idx_bytes(tmp_path: Path, array: np.ndarray) -> bytes:
    write_idx(tmp_path / "scratch.gz", array)
    return (tmp_path / "scratch.gz").read_bytes()


def cut_payload(good: bytes) -> bytes:
    return gzip.compress(gzip.decompress(good)[:20])


def flipped_deflate(good: bytes) -> bytes:
    return good[:10] + bytes(b ^ 0x55 for b in good[10:-8]) + good[-8:]


@pytest.mark.parametrize(
    ("damage", "says"),
    [
        (lambda good: good[: len(good) // 2], "Compressed file ended"),
        (lambda good: b"<html><body>404 Not Found</body></html>", "Not a gzipped file"),
        (cut_payload, "header says (64,) but holds 12 values"),
        (flipped_deflate, "cannot read"),
    ],
    ids=["truncated", "html", "short-payload", "corrupt-deflate"],
)
def test_load_from_dir_reports_an_unreadable_file_by_name(
    mnist_dir: Path, tmp_path: Path, damage: Callable[[bytes], bytes], says: str
) -> None:
    name = IDX_FILES["y_test"]
    folder = copy_with(
        mnist_dir, tmp_path / "m", {"y_test": damage((mnist_dir / name).read_bytes())}
    )
    with pytest.raises(MnistUnavailable) as err:
        load_from_dir(folder)
    assert str(folder / name) in str(err.value) and says in str(err.value)


def test_load_from_dir_rejects_swapped_test_images_and_labels(
    mnist_dir: Path, tmp_path: Path
) -> None:
    images, labels = (mnist_dir / IDX_FILES[key] for key in ("x_test", "y_test"))
    swapped = {"x_test": labels.read_bytes(), "y_test": images.read_bytes()}
    with pytest.raises(MnistUnavailable, match=r"hold shapes \(64,\) and \(64, 28, 28\)"):
        load_from_dir(copy_with(mnist_dir, tmp_path / "m", swapped))


@pytest.mark.parametrize(
    ("key", "array", "says"),
    [
        ("y_train", np.zeros(300, np.uint8), "hold 320 images but 300 labels"),
        ("y_test", np.full(64, 10, np.uint8), "hold label 10, outside 0-9"),
        ("x_train", np.zeros((320, 28, 27), np.uint8), "not (N, 28, 28) and (N,)"),
    ],
    ids=["count", "label", "size"],
)
def test_load_from_dir_rejects_files_that_do_not_match(
    mnist_dir: Path, tmp_path: Path, key: str, array: np.ndarray, says: str
) -> None:
    folder = copy_with(mnist_dir, tmp_path / "m", {key: idx_bytes(tmp_path, array)})
    with pytest.raises(MnistUnavailable) as err:
        load_from_dir(folder)
    assert says in str(err.value) and IDX_FILES[key] in str(err.value)


def test_load_from_dir_needs_an_image_to_fit_and_one_to_validate(
    mnist_dir: Path, tmp_path: Path
) -> None:
    one = {"x_train": np.zeros((1, 28, 28), np.uint8), "y_train": np.zeros(1, np.uint8)}
    folder = copy_with(
        mnist_dir, tmp_path / "m", {k: idx_bytes(tmp_path, a) for k, a in one.items()}
    )
    with pytest.raises(MnistUnavailable, match="hold 1 images, fewer than 2"):
        load_from_dir(folder)


def test_cli_reports_swapped_files_before_training(
    mnist_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    images, labels = (mnist_dir / IDX_FILES[key] for key in ("x_test", "y_test"))
    swapped = {"x_test": labels.read_bytes(), "y_test": images.read_bytes()}
    folder = copy_with(mnist_dir, tmp_path / "m", swapped)
    args = ["--data-dir", str(folder), "--output", str(tmp_path / "out"), "--epochs", "1"]
    assert main([*args, "--limit", "12"]) == 2
    captured = capsys.readouterr()
    assert "training LeNet" not in captured.out
    assert (
        captured.err.startswith("error: MNIST is not available: ") and captured.err.count("\n") == 1
    )
    assert IDX_FILES["x_test"] in captured.err and "Traceback" not in captured.err
