"""API keys (``LENET_API_KEYS_FILE``): the file read, kept as digests, reread when it
changes, and a presented key checked against it. Front ends ask ``KeyFile.allows``: the
HTTP middleware (``service.access``) and the gRPC interceptor (``service.grpc.server``).

The file holds a key a line, or the key's SHA-256 as ``sha256:<64 hex digits>`` (so that
the file need not hold the key itself); ``#`` starts a comment (whose key it is, say),
blank lines are skipped. Only digests are kept: a presented key is hashed once and
compared with every digest in constant time (``hmac.compare_digest``, no early exit). No
key, digest or line of the file is ever logged or put in an error message.

The file is looked at again at most once a second (its inode, size and times: a stat,
about a microsecond) and reread when it changed, so keys are added and revoked without a
restart. A file that has become unreadable, empty or malformed keeps the keys read before
and logs a warning, once; at start-up it is an error (``Settings`` reads it with
``read_keys``), and an empty file never means "open".
"""

from __future__ import annotations

import hmac
import logging
import re
from hashlib import sha256
from pathlib import Path
from time import monotonic

logger = logging.getLogger(__name__)

MIN_KEY_LENGTH = 16
"""Shorter keys are refused: an unsalted SHA-256 of a short key is quickly guessed."""
CHECK_SECONDS = 1.0
"""How often, at most, the file's stat is compared with the one last read."""
_TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")  # RFC 6750's b64token: what Bearer may carry
_HASHED = re.compile(r"sha256:([0-9a-fA-F]{64})")


def read_keys(path: Path) -> tuple[bytes, ...]:
    """The SHA-256 digests of the keys in ``path``. ValueError where it cannot be read,
    holds no key, or has a line that is neither a key nor a digest; the message names the
    line, never its text."""
    try:
        text = path.read_text(encoding="utf-8-sig")  # Notepad's and PowerShell's BOM too
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not UTF-8 text") from None
    digests = []
    for number, line in enumerate(text.splitlines(), start=1):
        entry = line.split("#", 1)[0].strip()  # "#" is no key's character
        if not entry:
            continue
        if hashed := _HASHED.fullmatch(entry):
            digests.append(bytes.fromhex(hashed[1]))
        elif _TOKEN.fullmatch(entry) and len(entry) >= MIN_KEY_LENGTH:
            digests.append(sha256(entry.encode()).digest())
        else:
            raise ValueError(
                f"{path}, line {number}: neither a key (at least {MIN_KEY_LENGTH} of "
                "A-Z a-z 0-9 - . _ ~ + /, then any =) nor sha256:<64 hex digits>"
            )
    if not digests:
        raise ValueError(f"{path} holds no key: that would leave every route open")
    return tuple(digests)


def _stat(path: Path) -> tuple[int, ...] | None:
    """What changes when the file is edited or replaced (a Kubernetes secret's update swaps
    a symlink: another inode)."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)


class KeyFile:
    """The keys of ``path``, reread when it changes (looked at every ``check_seconds``)."""

    def __init__(self, path: Path, check_seconds: float = CHECK_SECONDS) -> None:
        self.path = path
        self._check_seconds = check_seconds
        self._seen = _stat(path)
        self._digests = read_keys(path)
        self._next_check = monotonic() + check_seconds

    def allows(self, key: bytes) -> bool:
        """Whether ``key`` is one of the file's, in time that does not depend on which."""
        self._refresh()
        presented = sha256(key).digest()
        allowed = False
        for digest in self._digests:
            allowed |= hmac.compare_digest(digest, presented)
        return allowed

    def _refresh(self) -> None:
        now = monotonic()
        if now < self._next_check:
            return
        self._next_check = now + self._check_seconds
        seen = _stat(self.path)
        if seen == self._seen:
            return
        self._seen = seen
        try:
            self._digests = read_keys(self.path)
        except ValueError as exc:
            logger.warning("API keys: %s; still using the %d read before", exc, len(self._digests))
            return
        logger.info("API keys: %d read from %s", len(self._digests), self.path)


def bearer(authorization: str | bytes | None) -> bytes | None:
    """The token of an ``Authorization: Bearer <token>`` value; None for none or another
    scheme (whose name is case-insensitive, RFC 7235)."""
    if authorization is None:
        return None
    value = authorization.encode("latin-1") if isinstance(authorization, str) else authorization
    scheme, _, token = value.strip().partition(b" ")
    return token.strip() if scheme.lower() == b"bearer" else None
