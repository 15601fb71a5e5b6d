"""python -m bench's options."""

import pytest

from bench.__main__ import parse_args
from bench.serving import BODY_NAMES


def test_every_body_by_default_or_those_named() -> None:
    assert parse_args(["--quick"]).bodies == list(BODY_NAMES)
    assert parse_args(["--quick", "--bodies", "png,json"]).bodies == ["png", "json"]


def test_a_body_the_http_part_cannot_send_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse_args(["--quick", "--bodies", "json,xml"])
    assert "no such bodies: xml" in capsys.readouterr().err
