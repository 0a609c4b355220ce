"""What makes the web app's cold start short (README "Scale"), beside the stored BM25 (test_stored_bm25.py):
start-up without the cyclic collector, Gradio's stub writer skipped, the index read beside the web-stack imports,
the general-frequency table read once."""
from __future__ import annotations

import gc
import subprocess
import sys
import threading
import time

from bot import lexical
from bot.settings import ROOT


def test_the_app_starts_without_the_collector_then_freezes_what_it_loaded():
    import app

    assert gc.isenabled()
    frozen = gc.get_freeze_count()
    try:
        with app.startup_gc():
            assert not gc.isenabled()
            kept = [[i] for i in range(1000)]  # long-lived objects made at start-up
        assert gc.isenabled() and gc.get_freeze_count() >= frozen + len(kept)
    finally:
        gc.unfreeze()


def test_gradio_imported_for_the_app_skips_only_its_stub_writer():
    code = """
import sys
import app
before = list(sys.meta_path)
with app._gradio_without_stub_writer():
    import gradio as gr
    import gradio.component_meta as meta
assert sys.meta_path == before, "the finder is removed afterwards"
assert meta.create_or_modify_pyi is app._no_stubs
with gr.Blocks() as demo:
    box = gr.Textbox(label="q")
    gr.Button("go").click(lambda q: q, box, box)
assert demo.config["components"]
print("ok")
"""
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip().endswith("ok"), proc.stderr[-2000:]


def test_the_app_reads_the_index_beside_the_web_stack(shipped_settings):
    import app
    from bot.core import Assistant

    served = app.load_importing_web_stack(shipped_settings)
    plain = Assistant.load(shipped_settings)
    assert served.index_version == plain.index_version
    question = "Can debt collectors visit my home?"
    assert [(h.passage.id, h.score) for h in served.search(question)] == \
           [(h.passage.id, h.score) for h in plain.search(question)]


def test_the_general_frequency_table_is_read_once_by_concurrent_callers(monkeypatch):
    reads = []

    def slow_read():
        reads.append(1)
        time.sleep(0.2)
        return {"借款": (5, "n")}

    lexical.general_frequency("的")  # a read started by an earlier test's evidence gate is over
    monkeypatch.setattr(lexical, "_general_table", None)
    monkeypatch.setattr(lexical, "_read_general_frequencies", slow_read)
    results = []
    threads = [threading.Thread(target=lambda: results.append(lexical.general_frequency("借款"))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert reads == [1] and results == [(5, "n")] * 4
    assert lexical.general_frequency("没有") == (0, "")
