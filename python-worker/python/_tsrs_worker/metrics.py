"""context.metrics: the add_counter / add_time / add_size / add_percent / add_metric family.

Every update is buffered as an event; the worker drains the buffer into the `metrics` field of
the next LoadReply / PredictReply, and the server applies them (counter: add, gauge: set,
histogram: observe).
"""
import logging

from ts.metrics.metric_type_enum import MetricTypes
from ts.metrics.unit import Units

logger = logging.getLogger(__name__)

_KIND_CODE = {"counter": 0, "gauge": 1, "histogram": 2}

# the long unit names TorchServe reports (the bundled or the real ts package's table)
_UNIT_NAMES = Units().units


def _kind_name(metric_type):
    # accepts MetricTypes from the bundled or the real ts package, or a plain string
    name = getattr(metric_type, "value", metric_type)
    if name not in _KIND_CODE:
        raise TypeError("`metric_type` must be a MetricTypes enum")
    return name


class CachedMetric:
    """One named metric with fixed dimension names (what add_metric_to_cache returns)."""

    def __init__(self, events, metric_name, unit, dimension_names=None, metric_type=MetricTypes.COUNTER):
        self._events = events
        self.metric_name = metric_name
        self.unit = _UNIT_NAMES.get(unit, unit)
        self.dimension_names = list(dimension_names or [])
        self.metric_type = metric_type
        self._kind = _kind_name(metric_type)

    def add_or_update(self, value, dimension_values=None, request_id=""):
        values = list(dimension_values or [])
        if len(values) != len(self.dimension_names):
            logger.error(
                "[METRICS]Failed to update metric with name:%s: dimension values %s should "
                "correspond to dimension names %s",
                self.metric_name, values, self.dimension_names,
            )
            return
        try:
            number = float(value)
        except (TypeError, ValueError):
            logger.error("[METRICS]Failed to update metric with name:%s: value %r is not a number", self.metric_name, value)
            return
        if self._kind == "counter" and number < 0:
            logger.error("[METRICS]Failed to update metric with name:%s: counter update value cannot be negative", self.metric_name)
            return
        dims = [(str(n), str(v)) for n, v in zip(self.dimension_names, values)]
        self._events.append((self.metric_name, self.unit, _KIND_CODE[self._kind], number, dims))

    def update(self, value, request_id="", dimensions=None):
        """Older API: replaces the dimension names with those of `dimensions`."""
        dimensions = list(dimensions or [])
        self.dimension_names = [d.name for d in dimensions]
        self.add_or_update(value, [d.value for d in dimensions], request_id)


class MetricsCache:
    def __init__(self, model_name=None):
        self.model_name = model_name
        self.request_ids = None
        self.cache = {}
        # drained by the worker after each load / batch
        self.events = []

    def set_request_ids(self, request_ids):
        self.request_ids = request_ids

    def _request_id(self, idx):
        ids = self.request_ids
        if isinstance(ids, dict):
            if idx is not None and idx in ids:
                return ids[idx]
            return ",".join(ids.values())
        return ids

    def _with_default_dims(self, request_id, dimensions):
        dims = list(dimensions or [])
        names = {d.name for d in dims}
        if request_id is None:
            if "Level" not in names:
                dims.append(_Dim("Level", "Error"))
        else:
            if "ModelName" not in names:
                dims.append(_Dim("ModelName", self.model_name))
            if "Level" not in names:
                dims.append(_Dim("Level", "Model"))
        return dims

    def _record(self, name, value, unit, idx, dimensions, metric_type):
        request_id = self._request_id(idx)
        dims = self._with_default_dims(request_id, dimensions)
        metric = self._get_or_add(name, unit, [d.name for d in dims], metric_type)
        metric.add_or_update(value, [d.value for d in dims], request_id)

    def _get_or_add(self, name, unit, dimension_names, metric_type):
        existing = self.cache.get(_kind_name(metric_type), {}).get(name)
        if existing is not None and existing.dimension_names == dimension_names:
            return existing
        return self.add_metric_to_cache(name, unit, dimension_names, metric_type)

    def add_metric(self, name, value, unit, idx=None, dimensions=None, metric_type=MetricTypes.COUNTER):
        self._record(name, value, unit, idx, dimensions, metric_type)

    def add_counter(self, name, value, idx=None, dimensions=None):
        self._record(name, value, "count", idx, dimensions, MetricTypes.COUNTER)

    def add_time(self, name, value, idx=None, unit="ms", dimensions=None, metric_type=MetricTypes.GAUGE):
        if unit not in ("ms", "s"):
            raise ValueError("the unit for a timed metric should be one of ['ms', 's']")
        self._record(name, value, unit, idx, dimensions, metric_type)

    def add_size(self, name, value, idx=None, unit="MB", dimensions=None, metric_type=MetricTypes.GAUGE):
        if unit not in ("MB", "kB", "GB", "B"):
            raise ValueError("The unit for size based metric is one of ['MB','kB', 'GB', 'B']")
        self._record(name, value, unit, idx, dimensions, metric_type)

    def add_percent(self, name, value, idx=None, dimensions=None, metric_type=MetricTypes.GAUGE):
        self._record(name, value, "percent", idx, dimensions, metric_type)

    def add_error(self, name, value, dimensions=None):
        dims = self._with_default_dims(None, dimensions)
        metric = self._get_or_add(name, "", [d.name for d in dims], MetricTypes.COUNTER)
        metric.add_or_update(value, [d.value for d in dims])

    def add_metric_to_cache(self, metric_name, unit, dimension_names=None, metric_type=MetricTypes.COUNTER):
        if not isinstance(metric_name, str):
            raise TypeError("`metric_name` must be a str")
        if not isinstance(unit, str):
            raise TypeError("`unit` must be a str")
        metric = CachedMetric(self.events, metric_name, unit, dimension_names, metric_type)
        self.cache.setdefault(metric._kind, {})[metric_name] = metric
        return metric

    def get_metric(self, metric_name, metric_type=MetricTypes.COUNTER):
        try:
            return self.cache[_kind_name(metric_type)][metric_name]
        except KeyError:
            from ts.metrics.metric_cache_errors import MetricsCacheKeyError

            raise MetricsCacheKeyError(
                f"Metric of type '{metric_type}' and name '{metric_name}' doesn't exist"
            ) from None

    def drain(self):
        events, self.events[:] = list(self.events), []
        return events


class _Dim:
    __slots__ = ("name", "value")

    def __init__(self, name, value):
        self.name = name
        self.value = value
