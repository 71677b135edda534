"""Errors raised by the metrics cache (context.metrics)."""


class GeneralMetricsCacheError(Exception):
    pass


class MetricsCacheIOError(IOError):
    pass


class MetricsCacheTypeError(TypeError):
    pass


class MetricsCacheValueError(ValueError):
    pass


class MetricsCacheKeyError(KeyError):
    pass
