"""API keys (LENET_API_KEYS_FILE): what is closed and what stays open, the 401s and their
challenges, the file reread without a restart, keys kept out of logs and metrics; in
process over HTTP, then one real ``python -m service`` with Triton's own clients, both
protocols."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import httpx
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from pydantic import ValidationError
from tritonclient.grpc import service_pb2 as pb
from tritonclient.grpc import service_pb2_grpc
from tritonclient.utils import InferenceServerException

from service import keys as keys_module
from service.app import create_app
from service.keys import KeyFile, bearer, read_keys
from service.observability import answered
from service.settings import Settings
from tests.service.conftest import MODEL_ROOT, client_for, page_files, started
from tests.service.drawing import draw_digit, encode
from tests.service.observability.scraping import moved, parse, scrape
from tests.service.processes import free_port, service_env, serving, start

pytestmark = pytest.mark.anyio

KEY = "alice-0123456789abcdef"
HASHED_KEY = "bob-fedcba9876543210"  # in the file only as its SHA-256
NEW_KEY = "carol-00112233445566778899"
WRONG_KEY = "mallory-0123456789abcdef"
SEVEN = encode(draw_digit(7), "PNG")


def hashed(key: str) -> str:
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def write_keys(path: Path, *lines: str) -> Path:
    path.write_text("".join(f"{line}\n" for line in lines))
    return path


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture(scope="module")
def key_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("keys") / "api-keys"
    return write_keys(path, "# who holds which", f"{KEY}  # alice", "", hashed(HASHED_KEY))


async def keyed_app(path: Path, **settings: object) -> AsyncIterator[FastAPI]:
    app = create_app(
        Settings(model_root=MODEL_ROOT, backends=["onnx"], api_keys_file=path, **settings)
    )
    async with LifespanManager(app):
        await started(app)
        yield app


@pytest.fixture(scope="module")
async def app(key_path: Path) -> AsyncIterator[FastAPI]:
    async for application in keyed_app(key_path):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app) as http:
        yield http


# The file, and the settings that read it.


def test_the_file_holds_keys_and_digests_with_comments(key_path: Path) -> None:
    assert read_keys(key_path) == (
        hashlib.sha256(KEY.encode()).digest(),
        hashlib.sha256(HASHED_KEY.encode()).digest(),
    )


def test_a_file_saved_with_a_byte_order_mark_or_crlf_reads_alike(tmp_path: Path) -> None:
    """Windows Notepad and PowerShell 5's Out-File write a BOM: it was read as part of the
    first key, and the file refused (at start-up) or ignored (on reload: revoked keys
    kept working)."""
    path = tmp_path / "keys"
    path.write_bytes(f"\ufeff{KEY}\r\n# a comment\r\n".encode())
    assert read_keys(path) == (hashlib.sha256(KEY.encode()).digest(),)


@pytest.mark.parametrize(
    ("lines", "error"),
    [
        ((), "holds no key"),
        (("# only a comment", "   "), "holds no key"),
        ((KEY, "short"), "line 2: neither a key"),
        (("two words-0123456789abcdef",), "line 1: neither a key"),
        (("sha256:abc123",), "line 1: neither a key"),
    ],
    ids=["empty", "comments", "too-short", "space", "bad-digest"],
)
def test_a_file_that_is_not_all_keys_fails_start_up(
    tmp_path: Path, lines: tuple[str, ...], error: str
) -> None:
    path = write_keys(tmp_path / "keys", *lines)
    with pytest.raises(ValidationError, match=error) as raised:
        Settings(api_keys_file=path)
    for line in lines:  # the message names the line, never what is on it
        if line.strip():
            assert line not in str(raised.value)


def test_a_missing_file_fails_start_up(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="cannot read .*: No such file or directory"):
        Settings(api_keys_file=tmp_path / "nowhere")


def test_the_keys_and_their_options_are_read_under_their_names(
    monkeypatch: pytest.MonkeyPatch, key_path: Path
) -> None:
    monkeypatch.setenv("LENET_API_KEYS_FILE", str(key_path))
    monkeypatch.setenv("LENET_METRICS_REQUIRE_KEY", "true")
    settings = Settings()
    assert (settings.api_keys_file, settings.metrics_require_key) == (key_path, True)
    monkeypatch.delenv("LENET_API_KEYS_FILE")
    with pytest.raises(ValidationError, match="needs keys: set LENET_API_KEYS_FILE"):
        Settings()


@pytest.mark.parametrize(
    ("header", "token"),
    [
        (None, None),
        (f"Bearer {KEY}", KEY.encode()),
        (f"bearer   {KEY} ", KEY.encode()),
        (f"Basic {KEY}", None),
        ("Bearer", b""),
    ],
)
def test_only_a_bearer_header_carries_a_key(header: str | None, token: bytes | None) -> None:
    assert bearer(header) == token


def test_every_digest_is_compared_with_no_early_exit(
    key_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    compared = []
    real = keys_module.hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        compared.append(a)
        return real(a, b)

    keys = KeyFile(key_path)
    monkeypatch.setattr(keys_module.hmac, "compare_digest", counting)
    for key in (KEY, HASHED_KEY, WRONG_KEY):
        compared.clear()
        assert keys.allows(key.encode()) == (key != WRONG_KEY)
        assert len(compared) == 2, key  # the first key matching does not end the loop


def test_the_file_is_reread_when_it_changes_and_a_bad_one_keeps_the_last_keys(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write_keys(tmp_path / "keys", KEY)
    keys = KeyFile(path, check_seconds=0)
    assert keys.allows(KEY.encode()) and not keys.allows(NEW_KEY.encode())
    write_keys(path, NEW_KEY)  # KEY revoked, NEW_KEY added
    assert keys.allows(NEW_KEY.encode()) and not keys.allows(KEY.encode())
    caplog.set_level(logging.INFO, logger="service.keys")
    for broken in ("", "not a key"):
        path.write_text(broken)
        assert keys.allows(NEW_KEY.encode()), "an empty or broken file must not open or close"
    path.unlink()
    assert keys.allows(NEW_KEY.encode())
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 3, warnings  # once per change, not once per request
    assert all("still using the 1 read before" in w for w in warnings)
    assert "No such file" in warnings[-1]
    assert not any(NEW_KEY in w or "not a key" in w for w in warnings)


def test_the_file_is_looked_at_at_most_once_a_check(tmp_path: Path) -> None:
    path = write_keys(tmp_path / "keys", KEY)
    keys = KeyFile(path, check_seconds=3600)
    write_keys(path, NEW_KEY)
    assert keys.allows(KEY.encode()) and not keys.allows(NEW_KEY.encode())


# Over HTTP, in process.

CLOSED = [
    ("GET", "/v1/model"),
    ("GET", "/v1/model/curves.png"),
    ("POST", "/v1/predict"),
    ("GET", "/v2"),
    ("GET", "/v2/models/lenet"),
    ("GET", "/v2/models/lenet/ready"),
    ("POST", "/v2/models/lenet/infer"),
    ("GET", "/no/such/path"),  # closed unless named open: a route added later is too
]
OPEN = ["/healthz", "/readyz", "/v2/health/live", "/v2/health/ready", "/metrics", "/"]
OPEN += ["/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect"]


def shape_of(path: str, body: dict) -> str:
    """The message of an error in the shape its API answers with."""
    if path.startswith("/v2"):
        assert isinstance(body["error"], str), body
        return body["error"]
    assert body["error"]["status"] == 401 and body["error"]["code"] == "unauthorized", body
    message: str = body["error"]["message"]
    return message


@pytest.mark.parametrize(("method", "path"), CLOSED)
async def test_a_closed_route_without_a_key_is_401_with_a_challenge(client, method, path):
    response = await client.request(method, path)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="lenet-serve"'
    assert "Authorization: Bearer <key>" in shape_of(path, response.json())


@pytest.mark.parametrize(("method", "path"), CLOSED)
@pytest.mark.parametrize("header", [f"Bearer {WRONG_KEY}", f"Bearer {KEY}x", "Bearer "])
async def test_a_wrong_key_is_401_invalid_token_and_never_echoed(client, method, path, header):
    response = await client.request(method, path, headers={"Authorization": header})
    assert response.status_code == 401
    challenge = 'Bearer realm="lenet-serve", error="invalid_token"'
    assert response.headers["www-authenticate"] == challenge
    assert shape_of(path, response.json()) == "the API key is not valid"
    assert WRONG_KEY not in response.text and KEY not in response.text


@pytest.mark.parametrize("keys", [(KEY, WRONG_KEY), (WRONG_KEY, KEY), (KEY, KEY)])
async def test_two_authorization_headers_are_400_invalid_request(client, keys):
    """RFC 6750: credentials sent twice are a malformed request, whichever is valid."""
    headers = [("Authorization", f"Bearer {key}") for key in keys]
    response = await client.get("/v1/model", headers=headers)
    assert response.status_code == 400
    challenge = 'Bearer realm="lenet-serve", error="invalid_request"'
    assert response.headers["www-authenticate"] == challenge
    assert "one Authorization header" in response.json()["error"]["message"]


async def test_another_scheme_is_no_key(client):
    response = await client.get("/v1/model", headers={"Authorization": f"Basic {KEY}"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="lenet-serve"'


@pytest.mark.parametrize("key", [KEY, HASHED_KEY])
async def test_a_key_or_a_hashed_one_opens_every_route(client, key):
    for path in ("/v1/model", "/v2", "/v2/models/lenet", "/v2/models/lenet/ready"):
        response = await client.get(path, headers=auth(key))
        assert response.status_code == 200, (path, response.text)
    files = {"file": ("7.png", SEVEN, "image/png")}
    response = await client.post("/v1/predict", files=files, headers=auth(key))
    assert response.status_code == 200 and response.json()["predictions"][0]["digit"] == 7


@pytest.mark.parametrize("path", OPEN)
async def test_the_page_docs_probes_and_metrics_need_no_key(client, path):
    response = await client.get(path)
    assert response.status_code == 200, response.text


async def test_the_pages_files_need_no_key(client):
    module = f"{page_files((await client.get('/')).text)}/main.js"
    assert (await client.get(module)).status_code == 200


@pytest.mark.parametrize("docs", ["/docs", "/redoc"])
async def test_the_docs_files_need_no_key(client, docs):
    page = (await client.get(docs)).text
    scripts = re.findall(r'src="(/docs-files/[0-9a-f]{12}/[\w.-]+\.js)"', page)
    assert scripts, page
    for script in scripts:
        assert (await client.get(script)).status_code == 200, script


async def test_no_body_is_read_without_a_key(client):
    """A body over the size limit is refused 401, not 413: no key, no read."""
    response = await client.post("/v1/predict", content=b"x" * (21 * 1024 * 1024))
    assert response.status_code == 401


async def test_metrics_can_require_a_key(key_path: Path):
    async for app in keyed_app(key_path, metrics_require_key=True):
        async with client_for(app) as client:
            assert (await client.get("/metrics")).status_code == 401
            assert (await client.get("/metrics", headers=auth(KEY))).status_code == 200
            assert (await client.get("/healthz")).status_code == 200


async def test_keys_are_never_logged_nor_counted(client, caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG)
    before = await scrape(client)
    for key in (KEY, WRONG_KEY):
        await client.get("/v1/model", headers={**auth(key), "X-Request-ID": "keyed"})
    await client.get("/v1/model")
    answered.flush()
    exposed = (await client.get("/metrics")).text
    after = parse(exposed)
    counted = "lenet_requests_total"
    assert moved(before, after, counted, protocol="v1", route="/v1/model", status="200") == 1
    refused = [labels for name, labels in after if name == counted and ("status", "401") in labels]
    assert sum(moved(before, after, counted, **dict(labels)) for labels in refused) == 2
    lines = [
        line
        for r in caplog.records
        if r.name == "service.access"
        for line in r.getMessage().splitlines()
    ]
    assert sum('"request_id":"keyed"' in line for line in lines) == 2  # the log was on
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for secret in (KEY, WRONG_KEY, "Bearer", hashlib.sha256(KEY.encode()).hexdigest()):
        assert secret not in logged and secret not in exposed


async def test_a_key_added_to_the_file_opens_within_a_second_and_a_removed_one_closes(
    tmp_path: Path,
):
    path = write_keys(tmp_path / "keys", KEY)
    async for app in keyed_app(path):
        async with client_for(app) as client:
            assert (await client.get("/v1/model", headers=auth(NEW_KEY))).status_code == 401
            write_keys(path, NEW_KEY)
            await asyncio.sleep(1.1)  # keys.CHECK_SECONDS, and a margin
            assert (await client.get("/v1/model", headers=auth(NEW_KEY))).status_code == 200
            assert (await client.get("/v1/model", headers=auth(KEY))).status_code == 401


async def test_without_the_setting_nothing_is_installed():
    app = create_app(Settings(model_root=MODEL_ROOT, backends=["onnx"]))
    names = {middleware.cls.__name__ for middleware in app.user_middleware}
    assert not {"RequireApiKey", "Cors"} & names


# One real process, both protocols, Triton's clients.


@pytest.fixture(scope="module")
def server(key_path: Path) -> Iterator[tuple[str, str]]:
    grpc_port = free_port()
    env = service_env(
        free_port(),
        LENET_GRPC_PORT=str(grpc_port),
        LENET_BACKENDS='["onnx"]',
        LENET_API_KEYS_FILE=str(key_path),
    )
    with serving(env) as url:
        yield url.removeprefix("http://"), f"127.0.0.1:{grpc_port}"


@pytest.mark.parametrize("key", [KEY, HASHED_KEY])
def test_triton_clients_send_the_key(server: tuple[str, str], key: str) -> None:
    http, grpc = server
    image = np.zeros((1, 28, 28, 1), np.float32)
    for client, module, headers in (
        (httpclient.InferenceServerClient(http), httpclient, auth(key)),
        (grpcclient.InferenceServerClient(grpc), grpcclient, {"authorization": f"Bearer {key}"}),
    ):
        assert client.is_server_live() and client.is_server_ready()  # open: no key
        given = module.InferInput("image", [1, 28, 28, 1], "FP32")
        given.set_data_from_numpy(image)
        result = client.infer("lenet", [given], headers=headers)
        assert result.as_numpy("probabilities").shape == (1, 10)
        assert client.is_model_ready("lenet", headers=headers)


def test_triton_clients_without_a_key_are_refused(server: tuple[str, str]) -> None:
    http, grpc = server
    before = parse(httpx.get(f"http://{http}/metrics").text)
    with pytest.raises(InferenceServerException, match="this route needs an API key"):
        httpclient.InferenceServerClient(http).get_model_metadata("lenet")
    grpc_client = grpcclient.InferenceServerClient(grpc)
    with pytest.raises(InferenceServerException, match="UNAUTHENTICATED.*needs an API key"):
        grpc_client.get_model_metadata("lenet")
    after = parse(httpx.get(f"http://{http}/metrics").text)
    route = "/inference.GRPCInferenceService/ModelMetadata"
    counted = moved(
        before,
        after,
        "lenet_requests_total",
        protocol="grpc",
        route=route,
        status="UNAUTHENTICATED",
    )
    assert counted == 1
    with pytest.raises(InferenceServerException, match="UNAUTHENTICATED.*not valid"):
        grpc_client.get_server_metadata(headers={"authorization": f"Bearer {WRONG_KEY}"})
    with pytest.raises(InferenceServerException, match="UNAUTHENTICATED"):
        grpc_client.is_model_ready("lenet", headers={"authorization": f"Basic {KEY}"})


@pytest.mark.parametrize("keys", [(KEY, WRONG_KEY), (WRONG_KEY, KEY)])
def test_two_authorization_entries_are_refused_over_grpc_too(
    server: tuple[str, str], keys: tuple[str, str]
) -> None:
    """tritonclient sends a dict of headers: grpcio's own stub can repeat one."""
    metadata = tuple(("authorization", f"Bearer {key}") for key in keys)
    with grpc.insecure_channel(server[1]) as channel:
        stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
        with pytest.raises(grpc.RpcError) as refused:
            stub.ServerMetadata(pb.ServerMetadataRequest(), metadata=metadata)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "one authorization metadata entry" in refused.value.details()


def test_a_missing_keys_file_stops_start_up_with_its_reason(tmp_path: Path) -> None:
    env = service_env(free_port(), LENET_API_KEYS_FILE=str(tmp_path / "nowhere"))
    process = start(env)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 2  # a setting that cannot be served
    assert re.search(r"LENET_API_KEYS_FILE: cannot read .*nowhere: No such file", stderr.decode())
