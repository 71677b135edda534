"""Imported by nested_handler.py as a top-level module: only works if code/ is on sys.path."""
GREETING = "hello from helpers"
