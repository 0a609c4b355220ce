"""Web server: Gradio chat at /, JSON API under /api, /healthz, /widget.js, /demo. See bot/serve/api.py.

`create_app` is imported lazily, so `bot.serve.server` (used by app.py's supervising process) does not pull in
FastAPI and Gradio.
"""
from __future__ import annotations

import os
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from bot.serve.api import create_app

        return create_app
    raise AttributeError(f"module 'bot.serve' has no attribute {name!r}")
