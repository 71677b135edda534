"""Fails at load with a SyntaxError on line 5."""


def handle(data, context)
    return data
