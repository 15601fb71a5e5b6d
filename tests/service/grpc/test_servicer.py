"""The gRPC front end's own answers, from the real ``grpc.aio`` server the lifespan starts:
what it refuses as Triton does, how the request metrics count each way a call ends, and the
RPCs it does not serve. (tritonclient's view of the common path: tests/service/v2/test_clients.py.)
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any

import grpc
import numpy as np
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from tritonclient.grpc import service_pb2 as pb
from tritonclient.grpc import service_pb2_grpc

from service.app import create_app
from service.errors import Overloaded
from service.grpc.servicer import MAX_DETAILS
from service.settings import Settings
from service.v2 import inference
from tests.service.conftest import MODEL_ROOT, client_for, started
from tests.service.observability.scraping import Samples, moved, scrape
from tests.service.processes import free_port

pytestmark = pytest.mark.anyio

SERVICE = pb.DESCRIPTOR.services_by_name["GRPCInferenceService"]
SERVED = {
    "ServerLive",
    "ServerReady",
    "ModelReady",
    "ServerMetadata",
    "ModelMetadata",
    "ModelInfer",
}
COUNTED = "lenet_requests_total"
PUSHBACK = "grpc-retry-pushback-ms"
UNREADABLE = b"\xff\xff\xff\xff"
"""Bytes that no protobuf message reads (a field tag with no end)."""
WAIT_S = 30  # for what a stalled machine may delay; a passing run waits milliseconds


@dataclass(frozen=True)
class Served:
    app: FastAPI
    address: str


@pytest.fixture(scope="module")
async def served() -> AsyncIterator[Served]:
    port = free_port()
    settings = Settings(model_root=MODEL_ROOT, backends=["onnx"], host="127.0.0.1", grpc_port=port)
    app = create_app(settings)
    async with LifespanManager(app):
        await started(app)
        yield Served(app, f"127.0.0.1:{port}")


@pytest.fixture
async def stub(served: Served) -> AsyncIterator[Any]:
    async with grpc.aio.insecure_channel(served.address) as channel:
        yield service_pb2_grpc.GRPCInferenceServiceStub(channel)


async def metrics(served: Served) -> Samples:
    async with client_for(served.app) as http:
        return await scrape(http)


def route(method: str) -> str:
    return f"/inference.GRPCInferenceService/{method}"


def image(datatype: str = "FP32", *, raw: bool = True) -> Any:
    """A request for one blank digit's ``image``; its values as raw contents where ``raw``."""
    request = pb.ModelInferRequest(model_name="lenet")
    request.inputs.add(name="image", datatype=datatype, shape=[1, 28, 28])
    if raw:
        request.raw_input_contents.append(np.zeros(784, np.float32).tobytes())
    return request


async def refused(call: Any) -> str:
    """The details of ``call``, which must end INVALID_ARGUMENT."""
    assert await call.code() == grpc.StatusCode.INVALID_ARGUMENT, await call.details()
    details: str = await call.details()
    return details


async def test_contents_and_raw_input_contents_together_are_refused(stub: Any) -> None:
    request = image()
    request.inputs[0].contents.fp32_contents.extend([255.0] * 784)
    details = await refused(stub.ModelInfer(request))
    assert details == "input image: contents and raw_input_contents both given; send one"


async def test_typed_contents_are_counted_before_they_are_read(stub: Any) -> None:
    request = image(raw=False)
    request.inputs[0].contents.fp32_contents.extend([0.0] * 1_000_000)
    details = await refused(stub.ModelInfer(request))
    assert details == "input image: shape [1, 28, 28] holds 784 values; fp32_contents has 1000000"


async def test_typed_contents_in_another_datatypes_field_are_pointed_to_theirs(stub: Any) -> None:
    request = image(raw=False)
    request.inputs[0].contents.int_contents.extend([0] * 784)
    details = await refused(stub.ModelInfer(request))
    assert details == "input image: FP32 values go in fp32_contents, not int_contents"


async def test_raw_bytes_are_split_no_further_than_their_shape(stub: Any) -> None:
    request = pb.ModelInferRequest(model_name="lenet")
    request.inputs.add(name="image_bytes", datatype="BYTES", shape=[1])
    request.raw_input_contents.append(b"\0\0\0\0" * 2)  # two empty elements
    details = await refused(stub.ModelInfer(request))
    assert (
        details == "BYTES data holds more than its shape and the limit on images allow: 1 elements"
    )


async def test_too_many_images_are_refused_before_their_data_is_read(stub: Any) -> None:
    request = pb.ModelInferRequest(model_name="lenet")
    request.inputs.add(name="image_bytes", datatype="BYTES", shape=[257])  # the limit: 256
    request.raw_input_contents.append(b"\xff" * 3)  # not BYTES' layout: reading it fails
    call = stub.ModelInfer(request)
    assert await call.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert await call.details() == "257 images in one request; the limit is 256"


async def test_fp16_is_a_datatype_that_digits_do_not_come_in(stub: Any) -> None:
    request = image("FP16", raw=False)
    request.raw_input_contents.append(np.zeros(784, np.float16).tobytes())
    details = await refused(stub.ModelInfer(request))
    assert details.startswith("datatype FP16 is not accepted for digits")


async def test_fp16_has_no_typed_contents(stub: Any) -> None:
    request = image("FP16", raw=False)
    request.inputs[0].contents.fp32_contents.extend([0.0] * 784)
    details = await refused(stub.ModelInfer(request))
    assert details == "input image: FP16 has no typed contents field; send raw_input_contents"


async def test_classification_is_refused(stub: Any) -> None:
    request = image()
    # what tritonclient's InferRequestedOutput("probabilities", class_count=3) sends
    request.outputs.add(name="probabilities").parameters["classification"].int64_param = 3
    details = await refused(stub.ModelInfer(request))
    assert details.startswith("output probabilities: the classification extension")


async def test_shared_memory_is_refused(stub: Any) -> None:
    request = image()
    request.inputs[0].parameters["shared_memory_region"].string_param = "in"
    details = await refused(stub.ModelInfer(request))
    assert details.startswith("input image: the shared memory extensions are not supported")


async def test_an_output_asked_for_twice_is_refused(stub: Any) -> None:
    request = image()
    request.outputs.add(name="digit")
    request.outputs.add(name="digit")
    assert await refused(stub.ModelInfer(request)) == "output(s) digit asked for more than once"


async def test_a_full_queue_asks_the_client_to_push_back(stub: Any, monkeypatch) -> None:
    async def full(*args: object) -> None:
        raise Overloaded("2048 images are already waiting", headers={"Retry-After": "1"})

    monkeypatch.setattr(inference, "infer", full)
    call = stub.ModelInfer(image())
    assert await call.code() == grpc.StatusCode.UNAVAILABLE
    assert (PUSHBACK, "1000") in tuple(await call.trailing_metadata())
    unknown = stub.ModelInfer(pb.ModelInferRequest(model_name="resnet"))  # no Retry-After
    assert await unknown.code() == grpc.StatusCode.NOT_FOUND
    assert PUSHBACK not in dict(await unknown.trailing_metadata())


@pytest.mark.parametrize("call", ["ModelInfer", "ModelMetadata"])
async def test_an_error_that_repeats_a_long_client_string_still_reaches_the_client(
    served: Served, stub: Any, call: str
) -> None:
    """The status travels in a trailer, which a client refuses past 16 KiB (its metadata
    limit) as RESOURCE_EXHAUSTED, in place of the server's NOT_FOUND."""
    name = "x" * 20_000
    before = await metrics(served)
    if call == "ModelInfer":
        answer = stub.ModelInfer(pb.ModelInferRequest(model_name=name))
    else:
        answer = stub.ModelMetadata(pb.ModelMetadataRequest(name=name))
    assert await answer.code() == grpc.StatusCode.NOT_FOUND
    details = await answer.details()
    assert len(details) <= MAX_DETAILS
    assert details.startswith("unknown model 'xxx") and "…" in details
    assert details.endswith("this server serves 'lenet'")  # the end kept: what to do
    after = await metrics(served)
    labels = {"protocol": "grpc", "route": route(call), "status": "NOT_FOUND"}
    assert moved(before, after, COUNTED, **labels) == 1


async def test_every_rpc_not_served_answers_unimplemented(served: Served) -> None:
    missing = [method for method in SERVICE.methods if method.name not in SERVED]
    assert {"ModelStreamInfer", "ModelStatistics", "RepositoryIndex", "LogSettings"} <= {
        method.name for method in missing
    }
    before = await metrics(served)
    async with grpc.aio.insecure_channel(served.address) as channel:
        for method in missing:  # bytes no request type reads: refused before they are read
            if method.client_streaming:  # ModelStreamInfer
                call = channel.stream_stream(route(method.name))(iter([UNREADABLE]))
            else:
                call = channel.unary_unary(route(method.name))(UNREADABLE)
            assert await call.code() == grpc.StatusCode.UNIMPLEMENTED, method.name
            assert await call.details() == f"lenet-serve does not implement {method.name}"

    counts = await counted(served, before, [method.name for method in missing], "UNIMPLEMENTED")
    assert counts == dict.fromkeys(counts, 1)


async def test_bytes_that_are_not_the_request_message_are_an_invalid_argument(
    served: Served,
) -> None:
    """Not a ``DecodeError`` that grpc answers UNKNOWN before any method runs or counts."""
    before = await metrics(served)
    async with grpc.aio.insecure_channel(served.address) as channel:
        for method in SERVED:
            call = channel.unary_unary(route(method))(UNREADABLE)
            assert await call.code() == grpc.StatusCode.INVALID_ARGUMENT, method
            expected = f"the request is not a protobuf inference.{method}Request"
            assert await call.details() == expected
    counts = await counted(served, before, SERVED, "INVALID_ARGUMENT")
    assert counts == dict.fromkeys(SERVED, 1)


async def counted(
    served: Served, before: Samples, methods: Iterable[str], status: str
) -> dict[str, float]:
    """How many calls of each of ``methods`` were counted with ``status`` since ``before``,
    once all have moved (or ``WAIT_S`` on). ``context.abort`` sends the status before it
    raises, and the call is counted as the exception leaves it: the client may hear first."""
    for _ in range(int(WAIT_S / 0.01)):
        after = await metrics(served)
        labels = {"protocol": "grpc", "status": status}
        counts = {
            method: moved(before, after, COUNTED, route=route(method), **labels)
            for method in methods
        }
        if all(counts.values()):
            break
        await asyncio.sleep(0.01)
    return counts


class Stall:
    """An ``inference.infer`` that never answers: it waits to be cancelled."""

    def __init__(self) -> None:
        self.entered, self.ended = asyncio.Event(), asyncio.Event()

    async def __call__(self, *args: object) -> None:
        self.entered.set()
        try:
            await asyncio.Event().wait()
        finally:
            self.ended.set()  # the servicer has counted the call once this task step is over


@pytest.mark.parametrize("ending", ["CANCELLED", "DEADLINE_EXCEEDED"])
async def test_a_call_that_ends_unanswered_is_counted_as_it_ended(
    served: Served, stub: Any, monkeypatch, ending: str
) -> None:
    """Cancelled by the client, or past its deadline. The client's copy of the deadline may
    end the call a few ms before the server's runs out (it counts from the call's arrival):
    counted as late all the same."""
    stall = Stall()
    monkeypatch.setattr(inference, "infer", stall)
    before = await metrics(served)
    await stub.ServerLive(pb.ServerLiveRequest())  # connected: the deadline is the call's alone
    if ending == "CANCELLED":
        call = stub.ModelInfer(image())
        await asyncio.wait_for(stall.entered.wait(), WAIT_S)
        call.cancel()
    else:
        call = stub.ModelInfer(image(), timeout=3.0)
        assert await call.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    await asyncio.wait_for(stall.ended.wait(), WAIT_S)
    after = await metrics(served)
    infer = route("ModelInfer")
    assert moved(before, after, COUNTED, protocol="grpc", route=infer, status=ending) == 1
    assert moved(before, after, COUNTED, protocol="grpc", route=infer, status="OK") == 0


async def test_an_escaped_exception_is_counted_unknown(
    served: Served, stub: Any, monkeypatch
) -> None:
    def broken(*args: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(inference, "metadata", broken)
    before = await metrics(served)
    call = stub.ModelMetadata(pb.ModelMetadataRequest(name="lenet"))
    assert await call.code() == grpc.StatusCode.UNKNOWN  # grpc's answer to an escaped exception
    after = await metrics(served)
    metadata = route("ModelMetadata")
    assert moved(before, after, COUNTED, protocol="grpc", route=metadata, status="UNKNOWN") == 1
