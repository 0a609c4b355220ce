"""Web server: Gradio chat at /, JSON API under /api, /healthz, /widget.js, /demo. See bot/serve/api.py."""
from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from bot.serve.api import create_app  # noqa: E402

__all__ = ["create_app"]
