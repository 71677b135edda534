"""Returns torch tensors (torch must be importable): request i gets torch.arange(i + 3)."""
import torch


def handle(data, context):
    if data is None:
        return None
    return [torch.arange(i + 3) for i in range(len(data))]
