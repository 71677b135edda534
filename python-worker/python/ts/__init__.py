"""Compatibility subset of TorchServe's `ts` package, bundled with ts-worker.

Only used when the real `ts` (pip package torchserve) is not installed: handlers written for
TorchServe can import ts.context, ts.utils.util, ts.metrics.* and the streaming helpers.
The built-in handlers (ts.torch_handler.*) are NOT bundled: they need the real package.
"""
from ts.version import __version__

# lets code tell the bundled copy from the real package
TSRS_COMPAT = True
