"""TensorFlow's import without the C++ lines that ``TF_CPP_MIN_LOG_LEVEL`` is there to hide.

TensorFlow logs through abseil, and abseil writes every line to stderr, whatever its level,
until ``absl::InitializeLog`` has run (abseil-cpp#1957, open). TensorFlow logs before that on
import: with oneDNN on, each of two of its libraries writes abseil's "All log messages before
absl::InitializeLog() is called ..." and an INFO notice, four lines at every start of a server
that is asked for no INFO or WARNING lines. No setting reaches them, so the import runs with
the process's stderr read through a filter that drops what the level hides and nothing else:
what other threads write meanwhile (Python's logging) passes on as it comes, in its order.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

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


def import_tensorflow() -> ModuleType:
    """``import tensorflow``, with its C++ lines below ``TF_CPP_MIN_LOG_LEVEL`` left out."""
    with _importing:  # one filter at a time on the process's stderr
        if "tensorflow" not in sys.modules and min_level() > 0:
            with stderr_filtered(min_level()):
                return importlib.import_module("tensorflow")
        return importlib.import_module("tensorflow")


@contextmanager
def stderr_filtered(level: int) -> Iterator[None]:
    """File descriptor 2, the process's stderr (C++'s and Python's alike), read through a pipe
    while inside: a thread passes each line on to where it went before, unless ``hidden``."""
    sys.stderr.flush()
    destination = os.dup(2)
    reading, writing = os.pipe()
    os.dup2(writing, 2)
    os.close(writing)
    passing = threading.Thread(
        target=_pass_on, args=(reading, destination, level), name="stderr-filter", daemon=True
    )
    passing.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(destination, 2)  # the pipe's last writer closed: the thread reads to its end
        passing.join(timeout=5)  # a child started meanwhile holds the pipe: it passes on still


def _pass_on(reading: int, destination: int, level: int) -> None:
    try:
        with os.fdopen(reading, "rb") as pipe:
            for line in pipe:
                if not hidden(line, level):
                    _write(destination, line)
    finally:
        os.close(destination)


def _write(fd: int, data: bytes) -> None:
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    except OSError:  # stderr is gone: read on, so that no writer waits on a full pipe
        pass
