"""Introspecting echo: answers, per request, everything the handler saw.

Function entry point (module attribute `handle`). The init call `handle(None, ctx)`
is recorded so checks can see it happened before any predict.
"""
import base64
import os
import sys

INIT_CALLS = []


def _plain(value):
    # JSON cannot carry bytes: wrap them so a check can tell bytes from str.
    if isinstance(value, (bytes, bytearray)):
        return {"__bytes_b64__": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return repr(value)


def handle(data, context):
    if data is None:
        INIT_CALLS.append({"model_name": context.model_name, "pid": os.getpid()})
        return None
    request_ids = context.request_ids or {}
    out = []
    for idx, row in enumerate(data):
        out.append(
            {
                "keys": list(row.keys()),
                "types": {str(k): type(v).__name__ for k, v in row.items()},
                "values": _plain(row),
                "len_data": len(data),
                "index": idx,
                "request_id": context.get_request_id(idx),
                "request_ids": {str(k): v for k, v in request_ids.items()},
                "headers": _plain(context.get_all_request_header(idx)),
                "system_properties": _plain(context.system_properties),
                "manifest": _plain(context.manifest),
                "model_yaml_config": _plain(context.model_yaml_config),
                "model_name": context.model_name,
                "init_calls": len(INIT_CALLS),
                "pid": os.getpid(),
                "cwd": os.getcwd(),
                "sys_path_has_model_dir": context.system_properties.get("model_dir") in sys.path,
            }
        )
    return out
