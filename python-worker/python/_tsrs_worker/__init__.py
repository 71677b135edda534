"""The Python half of ts-worker: loading handlers, failures, logs and metrics.

Always served from the binary (never shadowed by an installed package). The hot path (building
`data`, calling the entry point, encoding replies) is in Rust; this package holds what runs once
per load or only on error paths.
"""
