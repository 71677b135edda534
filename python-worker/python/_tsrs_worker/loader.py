"""Loading a handler by TorchServe's rules (contract 1.4).

`load` runs once per worker. It raises on any failure; the worker turns the exception into a
LoadReply carrying the traceback, then exits.
"""
import importlib
import json
import logging
import os
import sys
import uuid

logger = logging.getLogger("ts_worker")

# ts/torch_handler/*.py in TorchServe 0.12: names that only the real package provides
BUILTIN_HANDLERS = frozenset(
    {
        "base_handler",
        "contractions",
        "dali_handler",
        "dali_image_classifier",
        "densenet_handler",
        "image_classifier",
        "image_segmenter",
        "object_detector",
        "text_classifier",
        "text_handler",
        "trt_llm_handler",
        "vision_handler",
        "vllm_handler",
    }
)


def _uses_bundled_ts():
    import ts

    return getattr(ts, "TSRS_COMPAT", False)


def _missing_torchserve(what):
    return ModuleNotFoundError(
        f"{what} is part of TorchServe's own 'ts' package (pip package 'torchserve'), which is not "
        "installed in this worker's Python; only the bundled compatibility subset of 'ts' is "
        "available (set VIRTUAL_ENV to a virtualenv that has torchserve)",
        name="ts.torch_handler",
    )


def _is_missing(exc, prefix):
    """True when `exc` says that module `prefix` (or a parent or child of it) does not exist."""
    name = getattr(exc, "name", None) or ""
    return isinstance(exc, ModuleNotFoundError) and (
        name == prefix or prefix.startswith(name + ".") or name.startswith(prefix + ".")
    )


def _import_handler(handler):
    """(module, function name or None). A handler module that fails with ImportError falls back
    to the built-in ts.torch_handler.<handler>, where the function name is lost (TorchServe
    does the same)."""
    module_part, sep, function_name = handler.partition(":")
    if module_part.endswith(".py"):
        module_part = module_part[:-3]
    module_name = module_part.split("/")[-1]
    try:
        return importlib.import_module(module_name), (function_name if sep else None)
    except ImportError as exc:
        first = exc
    # outside the except block, so a later raise does not chain the two errors backwards
    builtin = "ts.torch_handler." + handler
    try:
        return importlib.import_module("." + handler, "ts.torch_handler"), None
    except ImportError as exc:
        second = exc
    if not _is_missing(second, builtin):
        raise second  # the built-in handler exists but one of its own imports failed
    if _is_missing(first, module_name) and handler in BUILTIN_HANDLERS and _uses_bundled_ts():
        raise _missing_torchserve(f"built-in handler '{handler}' ({builtin})") from None
    missing = getattr(first, "name", None) or ""
    if isinstance(first, ModuleNotFoundError) and missing.startswith("ts.") and _uses_bundled_ts():
        # the handler itself imports a part of TorchServe that is not bundled
        raise _missing_torchserve(f"module '{missing}', imported by handler '{handler}',") from first
    raise first.with_traceback(first.__traceback__) from None


def _function_entry_point(module, function_name):
    entry_point = getattr(module, function_name)

    def initialize(context):
        entry_point(None, context)

    return entry_point, initialize


def _class_entry_point(module):
    from ts.utils.util import list_classes_from_module

    classes = list_classes_from_module(module)
    if len(classes) != 1:
        raise ValueError(
            "Expected only one class in custom service code or a function entry point {}".format(classes)
        )
    service = classes[0]()
    if not hasattr(service, "handle"):
        raise ValueError("Expect handle method in class {}".format(str(classes[0])))
    return service.handle, service.initialize


def _wrap_in_envelope(envelope, entry_point):
    from ts.utils.util import list_classes_from_module

    try:
        module = importlib.import_module("." + envelope, "ts.torch_handler.request_envelope")
    except ModuleNotFoundError as exc:
        if _is_missing(exc, "ts.torch_handler.request_envelope." + envelope) and _uses_bundled_ts():
            raise _missing_torchserve(f"request envelope '{envelope}'") from None
        raise
    return list_classes_from_module(module)[0](entry_point).handle


def _extend_sys_path(model_dir, handler):
    """The model folder and the handler's own folder are importable, as with TorchServe's
    PYTHONPATH (kept here too so a worker started without that variable behaves the same)."""
    module_part = handler.split(":", 1)[0]
    folders = [model_dir]
    if "/" in module_part:
        folders.append(os.path.join(model_dir, os.path.dirname(module_part)))
    for folder in reversed(folders):
        if folder not in sys.path:
            sys.path.insert(0, folder)


def _read_manifest(model_dir):
    path = os.path.join(model_dir, "MAR-INF", "MANIFEST.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def load(
    model_name,
    model_dir,
    handler,
    envelope,
    batch_size,
    gpu_id,
    limit_max_image_pixels,
    server_version,
    model_yaml_config,
    metrics,
):
    """Returns (entry_point, context) once initialize has run."""
    from ts.context import Context

    logger.info("Loading model %s from %s with handler %s", model_name, model_dir, handler)
    if not handler:
        raise ValueError(f"model {model_name} has no handler")
    os.chdir(model_dir)
    _extend_sys_path(model_dir, handler)
    manifest = _read_manifest(model_dir)

    module, function_name = _import_handler(handler)
    function_name = function_name or "handle"
    if hasattr(module, function_name):
        entry_point, initialize = _function_entry_point(module, function_name)
    else:
        entry_point, initialize = _class_entry_point(module)
    if envelope:
        entry_point = _wrap_in_envelope(envelope, entry_point)

    if not server_version:
        import ts

        server_version = ts.__version__
    metrics.model_name = model_name
    # as in TorchServe, load-time metrics carry a made-up request id (so Level=Model)
    metrics.set_request_ids(str(uuid.uuid4()))
    context = Context(
        model_name,
        model_dir,
        manifest,
        batch_size,
        gpu_id,
        server_version,
        limit_max_image_pixels,
        metrics,
        json.loads(model_yaml_config) if model_yaml_config else {},
    )
    initialize(context)
    return entry_point, context
