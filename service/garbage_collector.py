"""Python's cyclic garbage collector, set for a server whose requests leave no cycles behind.

CPython frees almost every object by reference counting, when its last reference goes; the
cyclic collector is for what that cannot free. It makes a pass over its youngest objects
whenever 700 (Python 3.11's threshold) more container objects have been made than freed
since the last, and every tenth pass over the next generation too. Requests in flight hold a
good many: a ``/v1`` JSON digit parses to 29 lists, and every request has its scope,
headers, task, frames and answer. Under concurrent load their coming and going passes 700
every few requests, so the collector walked the same live requests' objects again and
again, found nothing to free, and moved them on into the older generations, whose passes
walk them again; each pass also pushes the request path's code and data out of the CPU's
caches. ``python_gc_collections_total`` on ``/metrics`` counts the passes.

A threshold well above what the requests in flight hold leaves the collector to what it is
for. Little waits for it meanwhile: an HTTP request, answered or refused, leaves no cycles
behind (``tests/service/test_garbage_collector.py``); a gRPC call leaves five small objects
of grpcio's own, the closure its server looks the method up with and the call's metadata
(grpc/grpc#41796 replaces that lookup), freed by the next pass; and what else makes cycles
(a model loading) is still collected, once the threshold's worth more objects have been
made. ``python -m bench.gc_threshold`` measures the service against Python's threshold.
"""

from __future__ import annotations

import gc


def collect_young_objects_every(allocations: int) -> None:
    """Make the collector's young pass once ``allocations`` more container objects have been
    made than freed; the older generations' thresholds (passes of the one below) stay."""
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(allocations, middle, oldest)
