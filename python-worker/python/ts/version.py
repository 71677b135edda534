"""Version of TorchServe whose handler contract this package follows."""
__version__ = "0.12.0"
