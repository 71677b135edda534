"""Fails at load: the one class has no handle method."""


class NoHandle:
    def initialize(self, context):
        pass

    def predict(self, data, context):
        return ["never" for _ in data]
