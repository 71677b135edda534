"""Handler in a sub-folder, named as `code/nested_handler.py:infer`: the function name is taken
from the handler string, and the handler's own folder is importable (helpers.py sits beside it)."""
import os
import sys

import helpers


def infer(data, context):
    if data is None:
        return None
    return [
        {
            "entry": "infer",
            "helper": helpers.GREETING,
            "cwd": os.getcwd(),
            "handler_dir_on_path": os.path.dirname(os.path.abspath(__file__)) in sys.path,
        }
        for _ in data
    ]
