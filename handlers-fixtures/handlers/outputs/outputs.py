"""Returns each output type and sets status, headers and content type on request.

Body (JSON): {"type": "str"|"bytes"|"bytearray"|"dict"|"list"|"int"|"none",
              "status": int, "phrase": str, "headers": {k: v}, "content_type": str}
Each request of a batch is answered from its own body.
"""

VALUES = {
    "str": "h\u00e9llo \u2713 text",
    "bytes": b"\x00\x01\x02\xffraw-bytes",
    "bytearray": bytearray(b"\xfe\xfdbytearray"),
    "dict": {"b": 1, "a": [1, 2], "nested": {"ok": True}},
    "list": [1, "two", {"three": 3}],
    "int": 42,
    "none": None,
}


def handle(data, context):
    if data is None:
        return None
    out = []
    for idx, row in enumerate(data):
        req = row.get("body", row.get("data"))
        if not isinstance(req, dict):
            req = {"type": "str"}
        if "status" in req:
            context.set_response_status(int(req["status"]), req.get("phrase", ""), idx)
        if "content_type" in req:
            context.set_response_content_type(idx, req["content_type"])
        for key, value in (req.get("headers") or {}).items():
            context.set_response_header(idx, key, value)
        out.append(VALUES[req.get("type", "str")])
    return out
