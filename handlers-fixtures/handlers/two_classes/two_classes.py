"""Fails at load: a class entry point needs exactly one class defined in the module."""


class First:
    def handle(self, data, context):
        return ["first" for _ in data]


class Second:
    def handle(self, data, context):
        return ["second" for _ in data]
