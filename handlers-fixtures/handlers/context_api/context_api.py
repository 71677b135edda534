"""Exercises the Context API and answers, per request, what it reported.

Sets: set_response_status with keywords in TorchServe's order (code, phrase, idx), then
set_all_response_status is NOT used unless the body says "all"; a content type; a header.
Reports: request header lookups (exact case and a different case), the per-parameter
content-type entry, get_request_id for each idx, get_response_status / content type / headers
read back, get_sequence_id, system_properties keys, the Context class's module, and whether
the `ts` package is ts-worker's bundled copy (attribute TSRS_COMPAT) or the real one, and
sys.argv / sys.executable (an embedding worker must make them look like a normal Python's).
"""
import sys


def handle(data, context):
    if data is None:
        return None
    out = []
    for idx, row in enumerate(data):
        body = row.get("body")
        if isinstance(body, (bytes, bytearray)):
            body = body.decode()
        if body == "all":
            context.set_all_response_status(299, "All Set")
        else:
            context.set_response_status(code=201 + idx, phrase="Made %d" % idx, idx=idx)
        context.set_response_content_type(idx, "application/x-test")
        context.set_response_header(idx, "X-Index", str(idx))
        out.append(
            {
                "x_custom": context.get_request_header(idx, "X-Custom"),
                "x_custom_lower": context.get_request_header(idx, "x-custom"),
                "body_entry": context.get_request_header(idx, "body"),
                "explain": context.get_request_header(idx, "explain"),
                "request_id": context.get_request_id(idx),
                "status": list(context.get_response_status(idx)),
                "content_type": context.get_response_content_type(idx),
                "headers": context.get_response_headers(idx),
                "sequence_id": context.get_sequence_id(idx),
                "system_property_keys": sorted(context.system_properties),
                "context_module": type(context).__module__,
                "metrics_has_add_counter": hasattr(context.metrics, "add_counter"),
                "bundled_ts": getattr(sys.modules["ts"], "TSRS_COMPAT", False),
                "sys_argv": sys.argv,
                "sys_executable": sys.executable,
            }
        )
    return out
