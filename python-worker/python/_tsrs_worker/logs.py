"""Python logging records -> one stderr line each: 0x1E, then a JSON object.

The server reads the worker's stderr line by line; the 0x1E prefix tells a structured record
from a plain print, and JSON keeps a multi-line traceback on one line.
"""
import json
import logging
import sys

RECORD_SEPARATOR = "\x1e"


class JsonLineHandler(logging.Handler):
    def __init__(self, stream):
        super().__init__()
        self.stream = stream
        # "%(message)s" plus the exception / stack text that Formatter.format appends
        self.setFormatter(logging.Formatter("%(message)s"))

    def emit(self, record):
        try:
            line = json.dumps(
                {"level": record.levelname, "logger": record.name, "message": self.format(record)},
                ensure_ascii=False,
            )
            self.stream.write(RECORD_SEPARATOR + line + "\n")
            self.stream.flush()
        except Exception:
            self.handleError(record)


def install(level=logging.INFO):
    """Routes every logger to stderr as JSON lines; makes stdout line-buffered so prints reach
    the server as they happen, not at exit."""
    try:
        sys.stdout.reconfigure(line_buffering=True)
    except (AttributeError, ValueError):
        pass
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(JsonLineHandler(sys.stderr))
    root.setLevel(level)
    logging.captureWarnings(True)
