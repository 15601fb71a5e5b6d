"""bench.serving: which servers the HTTP part starts."""

from pathlib import Path

from bench import serving
from bench.modeldir import ModelDir

MODEL = ModelDir(Path("root"), Path("root/1"), Path("source/1"), onnx_built=False)


def names(**options: object) -> list[str]:
    return [spec.name for spec in serving.specs(MODEL, ["onnx"], False, [1, 2], **options)]


def test_each_worker_count_runs_ours_the_ceiling_and_the_previous_code() -> None:
    assert names(previous=Path("tree")) == [
        "ours-onnx",
        "ours-onnx-quiet",
        "previous-onnx",
        "ceiling",
        "ours-onnx-2w",
        "ceiling-2w",
        "previous-onnx-2w",
    ]


def test_without_the_previous_code_only_ours_and_the_ceiling_scale() -> None:
    assert names()[-2:] == ["ours-onnx-2w", "ceiling-2w"]
    assert not [name for name in names() if name.startswith("previous-")]


def test_the_previous_code_on_two_workers_is_started_with_two() -> None:
    [spec] = [
        s
        for s in serving.specs(MODEL, ["onnx"], False, [1, 2], Path("tree"))
        if s.name == "previous-onnx-2w"
    ]
    assert (spec.workers, spec.env["LENET_WORKERS"], spec.cwd) == (2, "2", Path("tree"))
