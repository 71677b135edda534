"""Example handler: echoes each request back with what the server told the handler.

A function entry point (`echo_handler:handle`): TorchServe calls handle(None, context) once
at load time, then handle(data, context) with one dict per request of the batch.
"""
import os


def handle(data, context):
    if data is None:  # the load-time call
        return None
    replies = []
    for row in data:
        body = row.get("body") if row.get("body") is not None else row.get("data")
        if isinstance(body, (bytes, bytearray)):
            body = body.decode("utf-8", "replace")
        replies.append(
            {
                "echo": body,
                "model": context.model_name,
                "batch_size": len(data),
                "worker_pid": os.getpid(),
            }
        )
    return replies
