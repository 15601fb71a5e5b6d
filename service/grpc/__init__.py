"""The Open Inference Protocol over gRPC (Triton's ``inference.GRPCInferenceService``), served
by grpcio's asyncio server on the HTTP app's own event loop, so both share models and
batchers."""
