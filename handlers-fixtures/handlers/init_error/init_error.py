"""Fails at load: initialize raises."""


class InitError:
    def initialize(self, context):
        raise ValueError("initialize failed on purpose (init_error fixture)")

    def handle(self, data, context):
        return ["never" for _ in data]
