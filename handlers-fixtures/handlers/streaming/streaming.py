"""Streams body.chunks pieces ("chunk0;", "chunk1;", ...): all but the last through
send_intermediate_predict_response, the last as the ordinary return value."""
try:
    from ts.handler_utils.utils import send_intermediate_predict_response
except ImportError:  # older layouts keep it in the protocol module
    from ts.protocol.otf_message_handler import send_intermediate_predict_response


def handle(data, context):
    if data is None:
        return None
    body = data[0].get("body", data[0].get("data"))
    chunks = int(body.get("chunks", 3)) if isinstance(body, dict) else 3
    for i in range(chunks - 1):
        send_intermediate_predict_response(
            ["chunk{};".format(i) for _ in data],
            context.request_ids,
            "Intermediate Prediction success",
            200,
            context,
        )
    return ["chunk{};".format(chunks - 1) for _ in data]
