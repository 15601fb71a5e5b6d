"""schemathesis's custom checks for lenet-serve (loaded by tests/contract/schemathesis.toml)."""

from __future__ import annotations

import schemathesis

CONTENT_REFUSALS = {(400, "bad_request"), (422, "no_digit")}
"""Why a schema-valid /v1 body may be refused: its bytes are not a whole image (or its b64
not base64), or the image shows no digit."""


@schemathesis.check
def refused_only_for_its_content(ctx, response, case) -> None:
    """A schema-valid request to /v1 that is refused with 400 or 422 is refused for what its
    image holds, never for something its schema could have said."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return
    if not case.path.startswith("/v1/") or response.status_code not in (400, 422):
        return
    error = response.json()["error"]
    if (response.status_code, error["code"]) not in CONTENT_REFUSALS:
        raise AssertionError(
            f"schema-valid request refused with {response.status_code} {error['code']}: "
            f"{error['message']}"
        )
