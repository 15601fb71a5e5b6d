"""TensorFlow's C++ lines below ``TF_CPP_MIN_LOG_LEVEL`` stay out of stderr during its import;
every other line passes on in its order, however much is written, however the process ends."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from service.runtime.native_logs import BEFORE_INITIALIZE, hidden
from tests.service.processes import ROOT

INFO = b"I0000 00:00:1796341275.537412   26691 port.cc:153] oneDNN custom operations are on.\n"
WARNING = b"W1203 23:41:02.501234    4242 cpu_feature_guard.cc:227] This binary is optimized\n"
ERROR = b"E0000 00:00:1796341275.537412   26691 env_var.cc:12] could not read a variable\n"
PREAMBLE = BEFORE_INITIALIZE + b"written to STDERR\n"


@pytest.mark.parametrize(
    ("level", "shown"),
    [
        (0, [PREAMBLE, INFO, WARNING, ERROR]),
        (1, [WARNING, ERROR]),
        (2, [ERROR]),
        (3, []),
    ],
)
def test_abseil_lines_below_the_level_are_hidden(level: int, shown: list[bytes]) -> None:
    lines = [PREAMBLE, INFO, WARNING, ERROR]
    assert [line for line in lines if not hidden(line, level)] == shown


@pytest.mark.parametrize(
    "line",
    [
        b"INFO:     serving lenet version 1 from artifacts/lenet\n",
        b"I am a line of someone's own\n",
        b'{"method":"GET","path":"/v1/model","status":200}\n',
        b"Traceback (most recent call last):\n",
    ],
)
def test_other_lines_are_shown_at_every_level(line: bytes) -> None:
    assert not hidden(line, 3)


def stderr_of(script: str, *, check: bool = True, **env: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        cwd=ROOT,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("TF_")}, **env},
        capture_output=True,
        timeout=120,
        check=check,
    )
    return done.stderr.decode().splitlines()


def test_the_filter_passes_lines_on_in_order_and_drops_hidden_ones() -> None:
    script = f"""
        import os, sys
        from service.runtime.native_logs import stderr_filtered
        print("before", file=sys.stderr, flush=True)
        with stderr_filtered(2):
            for line in ({INFO!r}, b"python one\\n", {WARNING!r}, {ERROR!r}, b"python two\\n"):
                os.write(2, line)
        print("after", file=sys.stderr, flush=True)
    """
    assert stderr_of(script) == [
        "before",
        "python one",
        ERROR.decode().rstrip("\n"),
        "python two",
        "after",
    ]


def test_the_filter_reads_while_the_writer_holds_the_gil() -> None:
    """As TensorFlow's libraries write while they load: 1 MB, many times a pipe's buffer, in
    one call that keeps the GIL (ctypes.PyDLL). A filter that needed it would never read."""
    script = f"""
        import ctypes
        from service.runtime.native_logs import stderr_filtered
        lines = ({INFO!r} + {ERROR!r}) * 6000
        with stderr_filtered(2):
            ctypes.PyDLL(None).write(2, lines, len(lines))
    """
    assert stderr_of(script) == [ERROR.decode().rstrip("\n")] * 6000


def test_the_last_line_of_a_process_that_dies_inside_is_passed_on() -> None:
    """TensorFlow's own check of the CPU aborts the import with a FATAL line."""
    fatal = b"F0000 00:00:1796341275.5 26691 cpu_feature_guard.cc:1] no AVX on this machine\n"
    script = f"""
        import ctypes, os
        from service.runtime.native_logs import stderr_filtered
        with stderr_filtered(2):
            os.write(2, {INFO!r} + {fatal!r})
            ctypes.CDLL(None).abort()
    """
    assert stderr_of(script, check=False) == [fatal.decode().rstrip("\n")]


def test_importing_tensorflow_shows_no_cpp_info_lines() -> None:
    """With oneDNN on (forced, so the notice comes on any x86 CPU), TensorFlow writes it and
    abseil's preamble on import, whatever ``TF_CPP_MIN_LOG_LEVEL`` says."""
    script = """
        import logging
        logging.basicConfig(level=logging.INFO, format="%(message)s")
        from service.runtime.native_logs import import_tensorflow
        tf = import_tensorflow()
        logging.info("imported %s", tf.__name__)
    """
    env = {"TF_ENABLE_ONEDNN_OPTS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    assert stderr_of(script, **env) == ["imported tensorflow"]
    shown = stderr_of(script, **{**env, "TF_CPP_MIN_LOG_LEVEL": "0"})
    assert any("oneDNN custom operations are on" in line for line in shown), shown
