import gzip
from pathlib import Path

import numpy as np
import pytest

from training.cli import main
from training.data import MnistUnavailable, load_from_dir, read_idx, subset, write_idx


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
