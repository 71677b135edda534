"""Writes to every output channel, then answers "ok".

On load: print("chatty stdout at load") and logging.info("chatty logging at load").
On each batch: print to stdout, print to stderr, logger.warning, logger.exception with a
traceback, warnings.warn. A body "sys_exit" makes the handler call sys.exit(7) instead.
"""
import logging
import sys
import warnings

logger = logging.getLogger("chatty")


def handle(data, context):
    if data is None:
        print("chatty stdout at load")
        logger.info("chatty logging at load")
        return None
    body = data[0].get("body")
    if isinstance(body, (bytes, bytearray)):
        body = body.decode()
    if body == "sys_exit":
        sys.exit(7)
    print("chatty stdout line")
    print("chatty stderr line", file=sys.stderr)
    logger.warning("chatty warning\nsecond line")
    try:
        raise KeyError("chatty key")
    except KeyError:
        logger.exception("chatty caught an error")
    warnings.warn("chatty python warning")
    return ["ok" for _ in data]
