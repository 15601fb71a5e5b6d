"""The ``/v1`` routes and the health probes, one module per resource."""

from service.api.routes import activations, explain, health, model, predict, read

ROUTERS = [module.router for module in (predict, read, activations, explain, model, health)]
