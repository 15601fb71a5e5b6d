"""The JSON access log: one line per request, with what the route ran, and its request id."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from select import PIPE_BUF
from types import SimpleNamespace

import httpx
import pytest
from fastapi import FastAPI

from service import observability
from service.errors import register_error_handlers
from service.observability import access_log, answered
from service.observability.middleware import CUT_SHORT_CYCLE
from service.settings import Settings
from tests.service.conftest import MODEL_ROOT
from tests.service.drawing import draw_digit, encode
from tests.service.observability.scraping import moved, scrape

pytestmark = pytest.mark.anyio

SEVEN = encode(draw_digit(7), "PNG")
FIELDS = {
    "method",
    "path",
    "status",
    "duration_ms",
    "batch_size",
    "backend",
    "version",
    "request_id",
}


@pytest.fixture
def access_lines(caplog: pytest.LogCaptureFixture):
    """The access log's lines from now on, parsed; each must be one JSON object."""
    answered.flush()  # earlier tests' requests: written (or not) at the level they ran at
    caplog.set_level(logging.INFO, logger="service.access")

    def lines() -> list[dict[str, object]]:
        answered.flush()  # what waits for the next tenth of a second
        return [
            json.loads(line)
            for r in caplog.records
            if r.name == "service.access"
            for line in r.getMessage().splitlines()
        ]

    return lines


@pytest.mark.parametrize(
    "route", ["/v1/predict", "/v1/read", "/v1/activations", "/v1/activations/conv1.png"]
)
async def test_each_request_logs_one_line_with_what_its_route_ran(client, access_lines, route):
    files = {"file": ("7.png", SEVEN, "image/png")}
    headers = {"X-Request-ID": "order-42"}
    response = await client.post(f"{route}?backend=numpy", files=files, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["x-request-id"] == "order-42"
    [line] = access_lines()
    assert set(line) == FIELDS
    assert (line["method"], line["path"], line["status"]) == ("POST", route, 200)
    assert (line["batch_size"], line["backend"], line["version"]) == (1, "numpy", "1")
    assert line["request_id"] == "order-42"
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] > 0
    assert line["duration_ms"] == round(line["duration_ms"], 3)  # to the µs


async def test_a_request_id_is_made_when_the_client_sends_none(client, access_lines):
    first = await client.get("/healthz")
    second = await client.get("/healthz")
    ids = [first.headers["x-request-id"], second.headers["x-request-id"]]
    assert all(re.fullmatch("[0-9a-f]{32}", i) for i in ids) and ids[0] != ids[1]
    assert [line["request_id"] for line in access_lines()] == ids
    assert access_lines()[0]["batch_size"] is None  # ran no model


async def test_lines_stay_apart_whatever_the_client_puts_in_them(client, access_lines):
    """The lines are written as one JSON array cut where one object ends and the next
    begins: a request id or path that looks like that boundary must not cut a line."""
    trick = '"},{"method":"GET'
    first = await client.get("/v1/nowhere/" + trick, headers={"X-Request-ID": trick})
    second = await client.get("/healthz", headers={"X-Request-ID": '\\"},{"method":'})
    assert (first.status_code, second.status_code) == (404, 200)
    lines = access_lines()
    assert [(line["path"], line["request_id"]) for line in lines] == [
        ("/v1/nowhere/" + trick, trick),
        ("/healthz", '\\"},{"method":'),
    ]


def test_lines_are_written_in_records_a_pipe_takes_whole(caplog: pytest.LogCaptureFixture):
    """Several worker processes share the pipe to a container's log: a write of more than
    PIPE_BUF bytes to it may be cut into by another's, mid-line. The longest line there can
    be (its method, path and id of control characters, each written as six bytes, and the
    longest values of the rest) fits in one."""
    caplog.set_level(logging.INFO, logger="service.access")
    paths = [f"/v1/{i}" for i in range(40)] + ["/v1/" + "\x01" * 5000] * 3
    lines = [access_log.start("GET", path, "abc") for path in paths[:40]]
    for path in paths[40:]:
        line = access_log.start("\x01" * 100, path, "\x01" * 128)
        line.update(status=503, duration_ms=123456.789, batch_size=256)
        line.update(backend="tensorflow", version="9" * 19)
        lines.append(line)
    access_log.write(lines)
    records = [r.getMessage() for r in caplog.records if r.name == "service.access"]
    assert len(records) < len(paths)  # many lines a record...
    assert all(len(record.encode()) + 1 <= PIPE_BUF for record in records)  # ...a write each
    written = [json.loads(line)["path"] for record in records for line in record.splitlines()]
    assert written[:40] == paths[:40]
    assert [len(path) for path in written[40:]] == [access_log.MAX_PATH] * 3
    assert all(path.endswith("…") for path in written[40:])


async def test_an_overlong_request_id_is_replaced(client):
    response = await client.get("/healthz", headers={"X-Request-ID": "x" * 1000})
    assert re.fullmatch("[0-9a-f]{32}", response.headers["x-request-id"])


async def test_a_request_id_that_is_not_ascii_is_replaced(client, access_lines):
    """Its bytes would be logged as latin-1 ("Ã©" for UTF-8's "é"): not what was sent."""
    response = await client.get("/healthz", headers={"X-Request-ID": "commande-é".encode()})
    assert re.fullmatch("[0-9a-f]{32}", response.headers["x-request-id"])
    assert [line["request_id"] for line in access_lines()] == [response.headers["x-request-id"]]


async def test_errors_are_logged_with_their_status(client, access_lines):
    await client.get("/v1/nowhere")
    await client.post("/v1/predict", content=b"not json", headers={"content-type": "text/csv"})
    statuses = [(line["path"], line["status"]) for line in access_lines()]
    assert statuses == [("/v1/nowhere", 404), ("/v1/predict", 415)]


async def test_bodies_refused_by_the_size_limit_are_logged_and_counted(
    client, strict_client, access_lines
):
    async def chunks():
        for _ in range(10):
            yield bytes(16 * 1024)

    before = await scrape(client)
    declared = await strict_client.post(
        "/v1/predict", content=bytes(100 * 1024), headers={"content-type": "image/png"}
    )
    streamed = await strict_client.post(
        "/v1/predict", content=chunks(), headers={"content-type": "image/png"}
    )
    v2 = await strict_client.post("/v2/models/lenet/infer", content=bytes(100 * 1024))
    after = await scrape(client)
    v2_route = {"protocol": "v2", "route": "/v2/models/{name}/infer", "status": "413"}
    assert v2.status_code == 413 and moved(before, after, "lenet_requests_total", **v2_route) == 1
    assert declared.status_code == streamed.status_code == 413
    assert declared.headers["x-request-id"] and streamed.headers["x-request-id"]
    refused = [line for line in access_lines() if line["path"] == "/v1/predict"]
    assert [line["status"] for line in refused] == [413, 413]
    # Refused by its Content-Length before routing, the first never reached a route: counted
    # under the one it was sent to all the same (it was "unmatched", as a 404 is).
    labels = {"protocol": "v1", "status": "413"}
    assert moved(before, after, "lenet_requests_total", route="unmatched", **labels) == 0
    assert moved(before, after, "lenet_requests_total", route="/v1/predict", **labels) == 2


async def test_an_unhandled_exception_is_logged_and_counted_as_500(client, access_lines):
    app = FastAPI()

    @app.get("/v1/boom")
    async def boom() -> None:
        raise RuntimeError("boom")

    register_error_handlers(app)
    observability.install(app, Settings(model_root=MODEL_ROOT))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    before = await scrape(client)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        response = await http.get("/v1/boom", headers={"X-Request-ID": "boom-1"})
    after = await scrape(client)
    assert response.status_code == 500
    assert response.headers["x-request-id"] == "boom-1"  # sent outside the middleware
    assert [line["status"] for line in access_lines() if line["path"] == "/v1/boom"] == [500]
    labels = {"protocol": "v1", "route": "/v1/boom", "status": "500"}
    assert moved(before, after, "lenet_requests_total", **labels) == 1


async def test_with_the_access_log_off_there_is_no_line_and_no_request_id(access_lines):
    app = FastAPI()

    @app.get("/v1/hello")
    async def hello() -> dict[str, str]:
        return {"hello": "world"}

    observability.install(app, Settings(model_root=MODEL_ROOT, access_log=False))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as http:
        response = await http.get("/v1/hello")
        assert response.status_code == 200
        assert (await http.get("/metrics")).status_code == 200  # still counting
    assert "x-request-id" not in response.headers
    assert access_lines() == []


@pytest.mark.parametrize(
    ("cycle", "status"),
    [
        pytest.param(SimpleNamespace(response_started=False), 503, id="cut-short-by-the-server"),
        pytest.param(SimpleNamespace(response_started=True), 500, id="answer-already-begun"),
        pytest.param(None, 500, id="no-one-answers-503"),
    ],
)
async def test_a_cancelled_request_counts_as_what_it_is_answered(
    client, access_lines, cycle, status
):
    """Cancelled before its answer began, a request is answered 503 where ``python -m
    service`` runs it (``connections.answer_if_cut_short``, which marks the scope), and 500
    elsewhere (uvicorn's own answer): the metrics and the log say the same."""
    app = FastAPI()

    @app.get("/v1/hang")
    async def hang() -> None:
        await asyncio.sleep(3600)

    observability.install(app, Settings(model_root=MODEL_ROOT))
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/v1/hang",
        "raw_path": b"/v1/hang",
        "root_path": "",
        "query_string": b"",
        "headers": [],
        "http_version": "1.1",
        "scheme": "http",
        "server": ("test", 80),
        "client": ("test", 1),
    }
    if cycle is not None:
        scope[CUT_SHORT_CYCLE] = cycle

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, object]) -> None:
        raise AssertionError(f"nothing is answered before the cancellation: {message}")

    before = await scrape(client)
    request = asyncio.ensure_future(app(scope, receive, send))
    await asyncio.sleep(0.05)
    request.cancel()
    with pytest.raises(asyncio.CancelledError):
        await request
    after = await scrape(client)
    assert [line["status"] for line in access_lines() if line["path"] == "/v1/hang"] == [status]
    labels = {"protocol": "v1", "route": "/v1/hang", "status": str(status)}
    assert moved(before, after, "lenet_requests_total", **labels) == 1


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/v1/predict", b"image/png"),
        ("/v1/predict", b"multipart/form-data; boundary=cut"),
        ("/v2/models/lenet/infer", b"application/json"),
    ],
)
async def test_a_client_that_hangs_up_mid_body_counts_as_499_not_as_the_servers_500(
    app, client, access_lines, caplog, path, content_type
):
    """nginx's 499: no one hears the answer, and a 500 with two tracebacks would count the
    client's hang-up as the server's failure."""
    scope = {
        "type": "http",
        "method": "POST",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"content-type", content_type), (b"content-length", b"1000")],
        "http_version": "1.1",
        "scheme": "http",
        "server": ("test", 80),
        "client": ("test", 1),
    }
    part = b'--cut\r\nContent-Disposition: form-data; name="file"; filename="7.png"\r\n\r\n'
    arriving = [{"type": "http.request", "body": part + SEVEN[:100], "more_body": True}]

    async def receive() -> dict[str, object]:
        return arriving.pop(0) if arriving else {"type": "http.disconnect"}

    async def send(message: dict[str, object]) -> None:
        pass  # uvicorn drops what is sent to a client that has gone

    before = await scrape(client)
    await app(scope, receive, send)
    after = await scrape(client)
    assert [line["status"] for line in access_lines() if line["path"] == path] == [499]
    protocol = "v2" if path.startswith("/v2") else "v1"
    route = "/v2/models/{name}/infer" if protocol == "v2" else path
    assert (
        moved(before, after, "lenet_requests_total", protocol=protocol, route=route, status="499")
        == 1
    )
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
