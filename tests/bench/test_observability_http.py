"""bench.observability_http: as shipped beside its quiet twin, or beside itself."""

from pathlib import Path

import pytest

from bench import observability_http


def test_a_pair_is_ours_with_its_quiet_twin_or_with_itself() -> None:
    shipped, quiet = observability_http.pair(Path("models"), same=False)
    assert quiet.env["LENET_METRICS"] == quiet.env["LENET_ACCESS_LOG"] == "false"
    assert "LENET_METRICS" not in shipped.env
    first, twin = observability_http.pair(Path("models"), same=True)
    assert twin.name == first.name + observability_http.TWIN != first.name  # own log file
    assert twin.env == first.env


@pytest.mark.parametrize(
    ("only", "off", "on"),
    [
        ("metrics", "LENET_ACCESS_LOG", "LENET_METRICS"),
        ("log", "LENET_METRICS", "LENET_ACCESS_LOG"),
    ],
)
def test_only_keeps_one_part_on_in_the_first_server_beside_the_quiet_twin(
    only: str, off: str, on: str
) -> None:
    first, quiet = observability_http.pair(Path("models"), same=False, only=only)
    assert first.env[off] == "false"
    assert on not in first.env  # on, as shipped
    assert quiet.env["LENET_METRICS"] == quiet.env["LENET_ACCESS_LOG"] == "false"
    assert len({first.name, quiet.name, "ours-onnx"}) == 3  # a log file of its own


def test_only_and_same_are_not_asked_together() -> None:
    with pytest.raises(SystemExit) as refused:
        observability_http.main(["--same", "--only", "log"])
    assert refused.value.code == 2  # argparse's usage error, before any server starts
