"""Helpers TorchServe handlers commonly import from ts.utils.util."""
import inspect
import json
import logging
import os

logger = logging.getLogger(__name__)


class PredictionException(Exception):
    """Raised by a handler to fail the whole batch with its own status code and message."""

    def __init__(self, message, error_code=500):
        self.message = message
        self.error_code = error_code
        super().__init__(message)

    def __str__(self):
        return f"{self.message} : {self.error_code}"


def list_classes_from_module(module, parent_class=None):
    """Classes defined in `module` itself (imported ones are skipped), optionally only the
    subclasses of `parent_class`, in name order."""
    defined_here = [
        member
        for _, member in inspect.getmembers(module, inspect.isclass)
        if member.__module__ == module.__name__
    ]
    if parent_class is None:
        return defined_here
    return [cls for cls in defined_here if issubclass(cls, parent_class)]


def get_yaml_config(yaml_file_path):
    import yaml  # only this helper needs PyYAML; keep the package importable without it

    with open(yaml_file_path, "r") as f:
        return yaml.safe_load(f)


def load_label_mapping(mapping_file_path):
    """Reads an index -> label JSON file; None (with a warning) when the file is absent."""
    if not os.path.isfile(mapping_file_path):
        logger.warning("%r is missing. Inference output will not include class name.", mapping_file_path)
        return None
    with open(mapping_file_path) as f:
        mapping = json.load(f)
    if not isinstance(mapping, dict):
        raise Exception('index->name JSON mapping should be in "class": "label" format.')
    names = mapping.get("object_type_names")
    if isinstance(names, list):
        return {str(i): name for i, name in enumerate(names)}
    for key, value in list(mapping.items()):
        label = value[-1] if isinstance(value, list) else value
        if not isinstance(label, str):
            raise Exception("labels in index->name mapping must be either str or List[str]")
        mapping[key] = label
    return mapping


def map_class_to_label(probs, mapping=None, lbl_classes=None):
    """[{label: probability}] for each row of `probs`."""
    if not isinstance(probs, list):
        raise Exception("Convert classes to list before doing mapping")
    if mapping is not None and not isinstance(mapping, dict):
        raise Exception("Mapping must be a dict")
    if lbl_classes is None:
        lbl_classes = [range(len(probs[0]))] * len(probs)
    out = []
    for classes, row in zip(lbl_classes, probs):
        out.append(
            {(mapping[str(c)] if mapping is not None else str(c)): p for c, p in zip(classes, row)}
        )
    return out
