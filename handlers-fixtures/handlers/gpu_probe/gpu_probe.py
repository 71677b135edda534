"""Reports the gpu_id this worker was given and, when torch with CUDA is importable,
where a tensor put on that device actually landed. Torch is optional."""
import importlib.util
import os
import time


def _probe(gpu_id):
    report = {
        "gpu_id": gpu_id,
        "torch": False,
        "cuda_available": False,
        "device_count": 0,
        "tensor_device": None,
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "pid": os.getpid(),
    }
    if importlib.util.find_spec("torch") is None:
        return report
    import torch

    report["torch"] = True
    report["cuda_available"] = bool(torch.cuda.is_available())
    if report["cuda_available"]:
        report["device_count"] = torch.cuda.device_count()
        if gpu_id is not None and gpu_id < report["device_count"]:
            tensor = torch.ones(1, device="cuda:{}".format(gpu_id))
            report["tensor_device"] = str(tensor.device)
    return report


def handle(data, context):
    if data is None:
        return None
    # {"sleep": s} keeps this worker busy so concurrent requests reach the others.
    for row in data:
        body = row.get("body", row.get("data"))
        if isinstance(body, dict) and body.get("sleep"):
            time.sleep(float(body["sleep"]))
            break
    report = _probe(context.system_properties.get("gpu_id"))
    return [report for _ in data]
