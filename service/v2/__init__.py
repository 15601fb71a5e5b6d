"""The Open Inference Protocol ("v2", KServe's and Triton's): REST in ``routes`` and gRPC in
``service.grpc``, both on ``inference``, which calls the same runtime as ``/v1``."""
