"""TensorFlow's import without the C++ lines that ``TF_CPP_MIN_LOG_LEVEL`` is there to hide.

TensorFlow logs through abseil, and abseil writes every line to stderr, whatever its level,
until ``absl::InitializeLog`` has run (abseil-cpp#1957, open). TensorFlow logs before that on
import: with oneDNN on, each of two of its libraries writes abseil's "All log messages before
absl::InitializeLog() is called ..." and an INFO notice, four lines at every start of a server
that is asked for no INFO or WARNING lines. No setting reaches them, so the import runs with
the process's stderr (file descriptor 2) read through a filter that drops what the level
hides and passes everything else on.

The filter is a child process (this file, run with the level), not a thread. A thread would
need the GIL, which the importing thread holds while TensorFlow's libraries load and write: a
verbose import (``TF_CPP_MAX_VLOG_LEVEL``) would fill the pipe and hang. And a process that
dies in the import (on a CPU without the instructions TensorFlow was built for) would take
its last lines with it, where the child reads the pipe to its end and passes them on after.
"""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import BinaryIO

SEVERITIES = b"IWEF"
"""abseil's severities, in the order of ``TF_CPP_MIN_LOG_LEVEL``'s 0 to 3."""

ABSEIL_LINE = re.compile(rb"([IWEF])\d{4} [\d:.]+ +\d+ [^\]\n]*\] ")
"""The start of an abseil log line: severity, month and day, time (before abseil starts,
``0000 00:00:<seconds since 1970>``), thread, file:line."""

BEFORE_INITIALIZE = b"WARNING: All log messages before absl::InitializeLog() is called are "
"""abseil's own notice, ahead of the first line it writes unfiltered."""

_importing = threading.Lock()


def hidden(line: bytes, min_level: int) -> bool:
    """Whether ``TF_CPP_MIN_LOG_LEVEL=min_level`` means ``line`` not to be shown."""
    if min_level <= 0:
        return False
    if line.startswith(BEFORE_INITIALIZE):
        return True
    match = ABSEIL_LINE.match(line)
    return match is not None and SEVERITIES.index(match[1]) < min_level


def min_level() -> int:
    """``TF_CPP_MIN_LOG_LEVEL`` as TensorFlow reads it (0, all, when unset or not a number)."""
    try:
        return int(os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0"))
    except ValueError:
        return 0


def quiet_below_errors(log_level: str) -> None:
    """TensorFlow's C++ INFO and WARNING lines hidden (``TF_CPP_MIN_LOG_LEVEL=2``) unless the
    service logs at ``debug`` or ``trace``, or the variable is set already: for the app in
    each process that imports it, whether ``python -m service`` or ``uvicorn`` started it."""
    if log_level not in ("debug", "trace"):
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def import_tensorflow() -> ModuleType:
    """``import tensorflow``, with its C++ lines below ``TF_CPP_MIN_LOG_LEVEL`` left out."""
    level = min_level()
    with _importing:  # one filter at a time on the process's stderr
        if "tensorflow" not in sys.modules and level > 0:
            with stderr_filtered(level):
                return importlib.import_module("tensorflow")
        return importlib.import_module("tensorflow")


@contextmanager
def stderr_filtered(level: int) -> Iterator[None]:
    """File descriptor 2, the process's stderr (C++'s and Python's alike), read through the
    filter while inside; left as it is where the filter cannot start."""
    sys.stderr.flush()
    try:
        restore = os.dup(2)
    except OSError:  # no stderr: nothing to filter
        yield
        return
    reading, writing = os.pipe()
    try:
        child = subprocess.Popen(
            # By its path, in isolated mode: the standard library alone, wherever it runs.
            [sys.executable, "-I", "-S", __file__, str(level)],
            stdin=reading,
            stdout=restore,
            start_new_session=True,  # Ctrl-C is the server's: the filter reads on to the end
        )
    except OSError:
        os.close(writing)
        os.close(restore)
        yield
        return
    finally:
        os.close(reading)
    os.dup2(writing, 2)
    os.close(writing)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(restore, 2)  # the pipe's last writer closed: the filter reads to its end
        os.close(restore)
        try:
            child.wait(timeout=5)
        except subprocess.TimeoutExpired:  # a child started meanwhile holds the pipe
            pass


def pass_on(level: int, lines: BinaryIO, out: BinaryIO) -> None:
    """The filter: each of ``lines`` to ``out`` as it comes, unless ``hidden``."""
    for line in lines:
        if not hidden(line, level):
            out.write(line)
            out.flush()


if __name__ == "__main__":
    pass_on(int(sys.argv[1]), sys.stdin.buffer, sys.stdout.buffer)
