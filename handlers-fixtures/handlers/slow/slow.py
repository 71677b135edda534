"""Sleeps as long as the body asks ({"sleep": seconds}), then reports its pid."""
import os
import time


def handle(data, context):
    if data is None:
        return None
    seconds = 0.0
    for row in data:
        body = row.get("body", row.get("data"))
        if isinstance(body, dict):
            seconds = max(seconds, float(body.get("sleep", 0)))
    time.sleep(seconds)
    return [{"pid": os.getpid(), "slept": seconds} for _ in data]
