"""Class entry point that counts initialize calls in this process.

`JSONDecoder` is imported on purpose: imported classes must not count as the
module's one class (ts.utils.util.list_classes_from_module).
"""
import os
from json import JSONDecoder  # noqa: F401  (see the module docstring)

INIT_CALLS = 0


class InitCounter:
    def __init__(self):
        self.initialized = False
        self.handle_calls = 0
        self.gpu_id = None

    def initialize(self, context):
        global INIT_CALLS
        INIT_CALLS += 1
        self.initialized = True
        self.gpu_id = context.system_properties.get("gpu_id")

    def handle(self, data, context):
        self.handle_calls += 1
        return [
            {
                "pid": os.getpid(),
                "init_calls": INIT_CALLS,
                "initialized_before_handle": self.initialized,
                "handle_calls": self.handle_calls,
                "gpu_id": self.gpu_id,
            }
            for _ in data
        ]
