"""Misbehaving handler: the first request's body picks the failure.

Body: JSON {"mode": ..., "code": int, "message": str} or the mode as plain text.
Modes: ok, plain, prediction, memory, cuda, wrong_length, not_list, unserializable,
exit (the worker process exits at once, as a crash would).
"""
import os

from ts.utils.util import PredictionException


def _request(row):
    body = row.get("body", row.get("data"))
    if isinstance(body, (bytes, bytearray)):
        body = body.decode("utf-8")
    if isinstance(body, str):
        return {"mode": body.strip()}
    if isinstance(body, dict):
        return body
    return {"mode": "ok"}


def handle(data, context):
    if data is None:
        return None
    req = _request(data[0])
    mode = req.get("mode", "ok")
    if mode == "plain":
        raise ValueError("plain failure raised by the errors fixture")
    if mode == "prediction":
        raise PredictionException(req.get("message", "fixture prediction error"), int(req.get("code", 500)))
    if mode == "memory":
        raise MemoryError("fixture memory error")
    if mode == "cuda":
        raise RuntimeError("CUDA error: out of memory (raised by the errors fixture)")
    if mode == "exit":
        os._exit(3)
    if mode == "wrong_length":
        return ["extra"] * (len(data) + 1)
    if mode == "not_list":
        return {"not": "a list"}
    if mode == "unserializable":
        return [object() for _ in data]
    return ["ok" for _ in data]
