"""Fails at load: imports a module that does not exist."""
import tsconform_fixture_module_that_does_not_exist  # noqa: F401


def handle(data, context):
    return ["unreachable" for _ in data or []]
