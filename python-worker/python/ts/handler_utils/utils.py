"""Newer home of the streaming helper (same behaviour as ts.protocol.otf_message_handler)."""
from ts.protocol.otf_message_handler import send_intermediate_predict_response  # noqa: F401
