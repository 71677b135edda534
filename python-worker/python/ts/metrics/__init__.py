"""Metric helpers a handler can import; the metrics cache itself is `context.metrics`."""
