"""Trivial echo handler for the round-trip benchmark. It times its own body, so the benchmark
can subtract the time spent in Python handler code from the worker round trip; a describe
batch returns the accumulated handler time (ns) and the number of calls, and resets them."""
import time

_now = time.perf_counter_ns
_STATS = [0, 0]


def handle(data, context):
    start = _now()
    if data is None:
        return None
    if context.get_request_header(0, "describe") == "True":
        total, calls = _STATS
        _STATS[0] = _STATS[1] = 0
        return ["%d %d" % (total, calls)] * len(data)
    out = [row.get("body") for row in data]
    _STATS[0] += _now() - start
    _STATS[1] += 1
    return out
