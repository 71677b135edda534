"""Streaming: a handler sends intermediate responses for its batch before returning.

The worker stores its reply channel as context.cl_socket; it encodes `ret` with the same rules
as the final reply and marks each response with header ts_stream_next=true.
"""


import os


def send_intermediate_predict_response(ret, req_id_map, message, code, context=None):
    # as in TorchServe, only the first process of a multi-process (torchrun) worker answers
    if str(os.getenv("LOCAL_RANK", 0)) != "0":
        return None
    context.cl_socket.send_intermediate(ret, req_id_map, message, code, context)
