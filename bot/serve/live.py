"""The assistant a serving process answers with, switched to a new index version without a restart.

    live = LiveAssistant(Assistant.load(settings), settings)   # starts the watcher (settings.index_poll_seconds)
    a = live.pinned()      # what one request uses from its first line to its last streamed byte
    live.health()          # the pinned assistant's health, with "index_version" and "ingest_running"

Several processes (`app.py --workers N`, or several hosts behind a load balancer) serve one index folder. Each
runs its own watcher thread: every `index_poll_seconds` (2 s by default) it stats index/CURRENT, a file of a few
bytes that ingest replaces atomically. When CURRENT names another version, the watcher loads it (the seconds a
big index takes to read happen in the watcher thread, never in a request) and then replaces one reference.
Requests already running keep the assistant they pinned at their start, so no answer mixes two versions; the
old one is freed when the last of them ends. Every loaded version lives entirely in memory (bot/index.load
reads every file once), so a process still serving a version keeps working after ingest deleted its folder.

A version that fails to load (corrupt, half-written, built with another model) is logged and the current one
keeps serving; it is tried again when CURRENT changes again. A missing or unreadable CURRENT is logged the
same way. A process started later loads the version CURRENT names at its start, so a respawned worker and its
siblings agree again within one poll interval.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from bot import index as index_store
from bot.errors import BotError

log = logging.getLogger("bot.serve.live")

Loader = Callable[[Any, Any], Any]  # (settings, the assistant serving now) -> the assistant of CURRENT's version


def load_current(settings: Any, previous: Any) -> Any:
    """The assistant over the version CURRENT names now, reusing the embedding model `previous` has loaded."""
    from bot.core import Assistant

    return Assistant.load(settings, embeddings=getattr(previous, "embeddings", None))


def version_of(assistant: Any) -> str:
    return str(getattr(assistant, "index_version", "") or "")


class LiveAssistant:
    """Stands in for an Assistant (attributes are read from the current one) and follows index/CURRENT."""

    def __init__(self, assistant: Any, settings: Any, *, loader: Loader = load_current,
                 poll_seconds: float | None = None, start: bool = True) -> None:
        self._current = assistant
        self.settings = settings
        self.ingesting = False  # this process' own start-up ingest (app.py) is running
        self._loader = loader
        self._pointer = settings.index_dir / index_store.CURRENT
        self._seen: tuple | None = None  # CURRENT as last checked (None: the first poll reads it)
        self._lock = threading.Lock()  # one check at a time (the watcher, and app.py after its own ingest)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.poll_seconds = float(settings.index_poll_seconds if poll_seconds is None else poll_seconds)
        log.info("serving index version %s (process %d)", self.index_version, os.getpid())
        if start and self.poll_seconds > 0:
            self.start()

    # -- what requests use --------------------------------------------------------------------------
    def pinned(self) -> Any:
        """The assistant of the version serving now. A request takes it once and uses only it."""
        return self._current

    @property
    def current(self) -> Any:
        return self._current

    @property
    def index_version(self) -> str:
        return version_of(self._current)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._current, name)

    def health(self) -> dict[str, Any]:
        current = self._current
        return {**current.health(), "index_version": version_of(current), "ingest_running": self.ingesting}

    # -- following CURRENT ----------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._watch, daemon=True, name="index-watcher")
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _watch(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            if self.ingesting:  # app.py checks itself when its own ingest ends
                continue
            try:
                self.check()
            except Exception:  # never let the watcher die: the next poll tries again
                log.exception("checking index/%s failed", index_store.CURRENT)

    def _signature(self) -> tuple | None:
        """Cheap change test: ingest replaces CURRENT by a new file (os.replace), so its inode and mtime change."""
        try:
            st = os.stat(self._pointer)
        except OSError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def check(self) -> bool:
        """Switch to the version CURRENT names if it is another one. True if switched. Blocks the caller (the
        watcher thread) for the load; requests go on with the version serving now meanwhile."""
        with self._lock:
            signature = self._signature()
            if signature == self._seen:
                return False
            self._seen = signature  # whatever happens below, try again only when CURRENT changes again
            serving = self.index_version
            try:
                target = index_store.current_version(self.settings.index_dir)
            except BotError as exc:
                log.error("%s; still serving index version %s", exc, serving)
                return False
            if target is None:
                log.error("index/%s is missing; still serving index version %s", index_store.CURRENT, serving)
                return False
            if target.name == serving:
                return False
            started = time.monotonic()
            try:
                fresh = self._loader(self.settings, self._current)
            except Exception as exc:  # IndexNotReady (corrupt, deleted meanwhile, another model), MemoryError...
                log.error("index version %s could not be loaded, still serving %s: %s", target.name, serving,
                          exc if isinstance(exc, BotError) else f"{type(exc).__name__}: {exc}")
                return False
            if version_of(fresh) == serving:  # CURRENT went back meanwhile
                return False
            self._current = fresh  # one reference assignment: requests see the old or the new, never a mix
            log.info("serving index version %s (process %d; was %s; loaded in %.1f s)", version_of(fresh),
                     os.getpid(), serving, time.monotonic() - started)
            return True
