"""The command line stops bad flags and a model root that cannot take the version before
training starts: a mistake costs seconds, not a training run."""

import errno
import tempfile
from pathlib import Path
from typing import NoReturn

import pytest

import training.train
from training import cli
from training.cli import main, parse_args


@pytest.fixture
def no_training(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if training starts: every case here must stop before it."""

    def never(*_args: object, **_kwargs: object) -> NoReturn:
        raise AssertionError("training started")

    monkeypatch.setattr(training.train, "train", never)


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--epochs", "0", "0 is not at least 1"),
        ("--epochs", "-1", "-1 is not at least 1"),
        ("--epochs", "two", "'two' is not a whole number"),
        ("--batch-size", "0", "0 is not at least 1"),
        ("--batch-size", "-5", "-5 is not at least 1"),
        ("--limit", "-59990", "-59990 is not at least 2"),
        ("--limit", "1", "1 is not at least 2"),
        ("--floor", "99", "99 is not a fraction from 0 to 1"),
        ("--floor", "nan", "nan is not a fraction from 0 to 1"),
        ("--seed", "-1", "-1 is not from 0 to 4294967295"),
        ("--version", "-1", "'-1' is not a version"),
        ("--version", "007", "'007' is not a version"),
        ("--version", "1" + "0" * 19, f"'1{'0' * 19}' is not a version: a whole number from 0"),
    ],
)
def test_parse_args_rejects_a_value_out_of_range(
    flag: str, value: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        parse_args([flag, value])
    assert stopped.value.code == 2
    assert f"error: argument {flag}: {message}" in capsys.readouterr().err


def test_parse_args_keeps_the_values_at_the_edges() -> None:
    args = parse_args(
        ["--epochs", "1", "--batch-size", "1", "--limit", "2", "--floor", "1", "--version", "0"]
        + ["--seed", str(2**32 - 1)]
    )
    assert (args.epochs, args.batch_size, args.limit, args.floor) == (1, 1, 2, 1.0)
    assert (args.version, args.seed) == (0, 2**32 - 1)
    assert parse_args(["--version", "9" * 19]).version == int("9" * 19)


def test_cli_refuses_an_existing_version_before_training(
    mnist_dir: Path, tmp_path: Path, no_training: None, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "3").mkdir()
    assert main(["--data-dir", str(mnist_dir), "--output", str(tmp_path), "--version", "3"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: version 3 already exists under") and err.count("\n") == 1
    assert "or none for the next one (4)" in err


def test_cli_refuses_a_root_in_a_file_before_training(
    mnist_dir: Path, tmp_path: Path, no_training: None, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "file").write_text("not a folder")
    root = tmp_path / "file" / "lenet"
    assert main(["--data-dir", str(mnist_dir), "--output", str(root)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot publish model versions under {root}: ")
    assert "Not a directory" in err and err.count("\n") == 1


def test_cli_refuses_a_read_only_root_before_training(
    mnist_dir: Path,
    tmp_path: Path,
    no_training: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def read_only(*_args: object, **_kwargs: object) -> NoReturn:
        raise OSError(errno.EROFS, "Read-only file system", str(tmp_path))

    monkeypatch.setattr(tempfile, "mkdtemp", read_only)  # as root, chmod cannot make it so
    assert main(["--data-dir", str(mnist_dir), "--output", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot publish model versions under {tmp_path}: ")
    assert "Read-only file system" in err and err.count("\n") == 1


def test_choose_version_makes_the_root_and_leaves_nothing_in_it(tmp_path: Path) -> None:
    root = tmp_path / "new" / "lenet"
    assert cli.choose_version(root, None) == 1
    assert root.is_dir() and list(root.iterdir()) == []
    (root / "4").mkdir()
    assert cli.choose_version(root, None) == 5 and cli.choose_version(root, 0) == 0


def test_epochs_and_limit_default_to_the_environments(monkeypatch: pytest.MonkeyPatch) -> None:
    """As compose passes them: a flag always on its command line could not be left out."""
    monkeypatch.setenv("TRAIN_EPOCHS", "3")
    monkeypatch.setenv("TRAIN_LIMIT", "60")
    assert (parse_args([]).epochs, parse_args([]).limit) == (3, 60)
    assert parse_args(["--epochs", "5"]).epochs == 5  # the command line wins
    monkeypatch.setenv("TRAIN_EPOCHS", "")
    monkeypatch.setenv("TRAIN_LIMIT", "0")  # what compose files before these checks passed
    assert (parse_args([]).epochs, parse_args([]).limit) == (None, None)
    monkeypatch.delenv("TRAIN_LIMIT")
    assert parse_args([]).limit is None


def test_an_environment_value_out_of_range_is_refused_by_its_flag(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TRAIN_EPOCHS", "-3")
    with pytest.raises(SystemExit) as stopped:
        parse_args([])
    assert stopped.value.code == 2
    assert "error: argument --epochs: -3 is not at least 1" in capsys.readouterr().err
