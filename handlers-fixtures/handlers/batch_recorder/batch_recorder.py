"""Reports, per request, the batch it was part of.

Each element: batch_len (= len(data)), request_ids of the batch, its own request id,
its index, the body it was sent (so a client can tell it got its own element),
the per-process call number and pid. A body {"sleep": s} keeps the worker busy.
"""
import os
import time

CALLS = 0


def handle(data, context):
    global CALLS
    if data is None:
        return None
    CALLS += 1
    call_no = CALLS
    ids = [context.get_request_id(i) for i in range(len(data))]
    bodies = [row.get("body", row.get("data")) for row in data]
    started = time.time()
    sleep = max(
        [float(b.get("sleep", 0)) for b in bodies if isinstance(b, dict)] or [0.0]
    )
    time.sleep(sleep)
    return [
        {
            "batch_len": len(data),
            "request_ids": ids,
            "my_request_id": ids[i],
            "index": i,
            "echo": bodies[i] if not isinstance(bodies[i], (bytes, bytearray)) else None,
            "call_no": call_no,
            "pid": os.getpid(),
            "batch_size": context.system_properties.get("batch_size"),
            "started": started,
        }
        for i in range(len(data))
    ]
