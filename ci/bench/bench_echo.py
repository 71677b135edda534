"""Trivial JSON echo used by ci/bench.sh: what the server costs, not the handler."""


def handle(data, context):
    if data is None:
        return None
    return [row.get("body") for row in data]
