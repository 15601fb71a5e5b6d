"""The HTTP API of ``/v1``: routes, their contracts and OpenAPI, and the response bodies."""
