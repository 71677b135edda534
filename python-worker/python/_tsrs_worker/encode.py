"""Output encodings that need a Python library (the common ones are done in Rust)."""
import io


def tensor_bytes(tensor):
    """torch.save bytes of a tensor, as TorchServe sends them."""
    import torch  # already imported: only called for a torch.Tensor

    buffer = io.BytesIO()
    torch.save(tensor, buffer)
    return buffer.getvalue()
