"""Exceptions -> (code, one-line message, traceback), by TorchServe's rules (contract 2.2, 2.3),
each logged with its traceback so the server's log shows the real cause."""
import logging
import traceback

logger = logging.getLogger("ts_worker")


def one_line(exc):
    text = str(exc).strip().splitlines()
    name = type(exc).__name__
    return f"{name}: {text[0]}" if text else name


def _traceback(exc):
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


def _out_of_memory(exc, only_runtime_errors):
    if isinstance(exc, MemoryError):
        return True
    if only_runtime_errors and not isinstance(exc, RuntimeError):
        return False
    return "CUDA" in str(exc)


def load_failure(model_name, exc):
    code = 507 if _out_of_memory(exc, only_runtime_errors=True) else 500
    message = one_line(exc)
    logger.error("Failed to load model %s: %s", model_name, message, exc_info=exc)
    return code, message, _traceback(exc)


def predict_failure(model_name, exc):
    from ts.utils.util import PredictionException

    if isinstance(exc, MemoryError):
        logger.error("System out of memory", exc_info=exc)
        return 507, "Out of resources", _traceback(exc)
    if isinstance(exc, PredictionException):
        logger.error("Prediction error", exc_info=exc)
        try:
            code = int(exc.error_code)
        except (TypeError, ValueError):
            code = 500
        return code, str(exc.message), _traceback(exc)
    if _out_of_memory(exc, only_runtime_errors=False):
        logger.error("CUDA out of memory", exc_info=exc)
        return 507, "Out of resources", _traceback(exc)
    logger.warning("Invoking custom service failed.", exc_info=exc)
    return 503, "Prediction failed", _traceback(exc)


def output_failure(model_name, exc):
    logger.warning("model: %s, unable to serialize model output.", model_name, exc_info=exc)
    return 503, "Unsupported model output data type.", _traceback(exc)
