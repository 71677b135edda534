"""Streaming: a handler sends intermediate responses for its batch before returning.

The worker stores its reply channel as context.cl_socket; it encodes `ret` with the same rules
as the final reply and marks each response with header ts_stream_next=true.
"""


def send_intermediate_predict_response(ret, req_id_map, message, code, context=None):
    context.cl_socket.send_intermediate(ret, req_id_map, message, code, context)
