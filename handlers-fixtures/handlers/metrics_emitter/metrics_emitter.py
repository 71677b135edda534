"""Records metrics through context.metrics, at load (initialize) and for every batch.

initialize: counter LoadCounter = 1 with dimension Stage=init.
handle: for each batch, the whole add_* family (values fixed so a check can find them):
  add_counter("Requests", len(data), dimensions=[Dimension("Route", "predict")])
  add_time("HandlerMs", 12.5)                       (gauge, ms)
  add_size("PayloadSize", 3, unit="kB")             (gauge, kB)
  add_percent("Utilisation", 75)                    (gauge, percent)
  add_metric("Latency", 7, "ms", metric_type=MetricTypes.HISTOGRAM)
  a metric made with add_metric_to_cache("Custom", "count", ["Color"]) updated with add_or_update(2, ["red"])
"""
from ts.metrics.dimension import Dimension
from ts.metrics.metric_type_enum import MetricTypes


class MetricsEmitter:
    def initialize(self, context):
        context.metrics.add_counter("LoadCounter", 1, dimensions=[Dimension("Stage", "init")])

    def handle(self, data, context):
        m = context.metrics
        m.add_counter("Requests", len(data), dimensions=[Dimension("Route", "predict")])
        m.add_time("HandlerMs", 12.5)
        m.add_size("PayloadSize", 3, unit="kB")
        m.add_percent("Utilisation", 75)
        m.add_metric("Latency", 7, "ms", metric_type=MetricTypes.HISTOGRAM)
        custom = m.add_metric_to_cache("Custom", "count", ["Color"])
        custom.add_or_update(2, ["red"])
        return ["ok" for _ in data]
