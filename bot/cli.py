"""Command line: python -m bot {ingest, search, ask, eval}.

`search` and `ask` take the question as an argument, or `-` to read one question per line from stdin (one
model load for all of them); `--json` prints one JSON object per question, one per line, for pipes.
Errors a user can cause print a one-line message and exit non-zero (2 for bad input), never a traceback;
in a batch, a bad line (empty, not UTF-8) gets its message and the others are still answered (exit 2 at
the end). The global options `--index` and `--preset` go before or after the subcommand.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from bot.errors import BadQuestion, BotError

EXIT_BAD_INPUT = 2


def _questions(arg: str) -> Iterator[str | BadQuestion]:
    """The questions to answer, in order; a question that cannot be used comes as a BadQuestion to report."""
    if arg != "-":
        yield arg if _is_text(arg) else BadQuestion("the question is not valid UTF-8 text")
        return
    stdin = getattr(sys.stdin, "buffer", None)
    if stdin is None:  # a text stream (tests): nothing left to decode
        lines: Iterator[str | bytes] = iter(sys.stdin)
    else:
        lines = iter(stdin)
    for number, raw in enumerate(lines, 1):
        if isinstance(raw, bytes):
            try:
                raw = raw.decode("utf-8")
            except UnicodeDecodeError:
                yield BadQuestion(f"line {number} of the input is not valid UTF-8 text; skipped")
                continue
        line = raw.rstrip("\r\n")
        if line.strip():
            yield line


def _one_line(text: str) -> str:
    from bot.readers import one_line

    return one_line(text)


def _is_text(value: str) -> bool:
    """False for an argument with bytes that were not UTF-8 (Python keeps them as lone surrogates)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _settings(args: argparse.Namespace):
    from bot.settings import get_settings

    overrides = {}
    if getattr(args, "index", None):
        overrides["index_dir"] = Path(args.index)
    if getattr(args, "docs", None):
        overrides["docs_dir"] = Path(args.docs)
    if getattr(args, "preset", None):
        overrides["preset"] = args.preset
    return get_settings(**overrides)


def cmd_ingest(args: argparse.Namespace) -> int:
    from bot.ingest import NoDocuments, ingest
    from bot.readers import display_name, one_line

    settings = _settings(args)
    paths = [Path(p) for p in args.paths] or None
    for p in paths or []:
        if not p.exists():
            print(f"error: {display_name(p)} does not exist", file=sys.stderr)
            return EXIT_BAD_INPUT
    try:
        report = ingest(settings, paths, rebuild=args.rebuild, progress=sys.stderr.isatty() or args.progress,
                        exactly=args.exactly, allow_empty=args.allow_empty)
    except NoDocuments as exc:
        for warning in exc.warnings:
            print(f"warning: {one_line(warning)}", file=sys.stderr)
        print(f"error: {one_line(str(exc))}", file=sys.stderr)
        return EXIT_BAD_INPUT
    for warning in report.warnings:
        print(f"warning: {one_line(warning)}", file=sys.stderr)
    if args.json:
        print(json.dumps({"documents": [d.__dict__ for d in report.documents], "passages": report.passages,
                          "embedded": report.embedded, "seconds": round(report.seconds, 3),
                          "embed_seconds": round(report.embed_seconds, 3),
                          "removed": report.removed_documents, "up_to_date": report.up_to_date,
                          "warnings": report.warnings}, ensure_ascii=False))
    else:
        print(report.summary())
    return 0


def _load(args: argparse.Namespace):
    from bot.core import Assistant

    return Assistant.load(_settings(args))


def cmd_search(args: argparse.Namespace) -> int:
    assistant = _load(args)
    status = 0
    for question in _questions(args.question):
        if isinstance(question, BadQuestion):
            print(f"error: {question}", file=sys.stderr)
            status = EXIT_BAD_INPUT
            continue
        try:
            results = assistant.search_results(question, args.k)
        except BadQuestion as exc:
            print(f"error: {exc}", file=sys.stderr)
            status = EXIT_BAD_INPUT
            continue
        if args.json:
            print(json.dumps({"question": question, "results": [r.model_dump(exclude={"passage_id"}) for r in results]},
                             ensure_ascii=False), flush=True)
        else:
            print(f"? {question}")
            for i, r in enumerate(results, 1):
                where = " › ".join(x for x in (r.title, r.section) if x)
                print(f"  {i}. [{r.score:.4f}] {r.doc_id} {where}\n     {r.text}")
    return status


def cmd_ask(args: argparse.Namespace) -> int:
    assistant = _load(args)
    status = 0
    for question in _questions(args.question):
        if isinstance(question, BadQuestion):
            print(f"error: {question}", file=sys.stderr)
            status = EXIT_BAD_INPUT
            continue
        try:
            if args.json:
                answer = assistant.ask(question)
                print(json.dumps(_answer_json(answer), ensure_ascii=False), flush=True)
                continue
            answer = None
            for event in assistant.stream(question):
                if event.kind == "delta":
                    print(event.text, end="", flush=True)
                else:
                    answer = event.answer
            print()
            for c in answer.citations if answer else []:
                where = " › ".join(x for x in (c.title, c.section) if x)
                print(f"[{c.n}] {c.doc_id} {where}\n    {c.text}")
        except BadQuestion as exc:
            print(f"error: {exc}", file=sys.stderr)
            status = EXIT_BAD_INPUT
    return status


def _answer_json(answer) -> dict:
    """The whole Answer (bot.types.Answer), as POST /api/ask returns it (which adds only `answer_id`)."""
    return answer.model_dump(mode="json")


def cmd_eval(args: argparse.Namespace) -> int:
    from bot.evaluate import evaluate, format_report

    assistant = _load(args)
    report = evaluate(assistant, Path(args.file), split=args.split,
                      baselines="bm25" if args.bm25_baseline_only else not args.no_baselines,
                      baseline_docs=Path(args.baseline_docs) if args.baseline_docs else None)
    print(json.dumps(report, ensure_ascii=False, indent=1) if args.json else format_report(report))
    return 0


def build_parser() -> argparse.ArgumentParser:
    # The global options are accepted before and after the subcommand (`ask x --index DIR`): each parser gets
    # them, with SUPPRESS as default so that a value given in one place is not reset by the other parser.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--index", default=argparse.SUPPRESS, help="index directory (default: index/ or BOT_INDEX_DIR)")
    common.add_argument("--preset", default=argparse.SUPPRESS, help="named settings preset (see bot/settings.py)")
    parser = argparse.ArgumentParser(prog="python -m bot", description="Borrower-rights assistant (retrieval QA, cited).",
                                     parents=[common])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("ingest", parents=[common], help="build or refresh the index from documents")
    p.add_argument("paths", nargs="*",
                   help="files or folders to add or refresh; other indexed documents stay (default: all of docs/)")
    p.add_argument("--docs", help="documents folder (default: docs/)")
    p.add_argument("--exactly", action="store_true",
                   help="index exactly the named paths: documents not among them leave the index")
    p.add_argument("--allow-empty", action="store_true",
                   help="build the index even when there are no documents (an empty index)")
    p.add_argument("--rebuild", action="store_true", help="re-embed everything")
    p.add_argument("--progress", action="store_true", help="show a progress bar even when not on a terminal")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("search", parents=[common], help="show the passages retrieved for a question")
    p.add_argument("question", help="the question, or - to read one per line from stdin")
    p.add_argument("-k", type=int, default=5)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("ask", parents=[common], help="answer a question with cited passages")
    p.add_argument("question", help="the question, or - to read one per line from stdin")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("translate", parents=[common],
                       help="fill missing English renderings of passages through the configured LLM (offline step)")
    p.add_argument("--limit", type=int, help="translate at most this many passages in this run")
    p.add_argument("--source", default="", help="only documents whose path (under docs/) starts with this")
    p.add_argument("--progress", action="store_true", help="show a progress bar even when not on a terminal")
    p.set_defaults(func=cmd_translate)

    p = sub.add_parser("eval", parents=[common], help="retrieval and abstention metrics on a question file")
    p.add_argument("file", help="JSONL question file (format of shared/eval)")
    p.add_argument("--split", choices=("all", "fit", "holdout"), default="all",
                   help="evaluate only the fit (~70%%) or holdout (~30%%) questions, by a hash of the question id")
    p.add_argument("--no-baselines", action="store_true",
                   help="skip the BM25 and e5 whole-article baselines (computed over the documents folder)")
    p.add_argument("--bm25-baseline-only", action="store_true",
                   help="only the BM25 baseline (the e5 one embeds every article of the corpus once: an hour at 65,000)")
    p.add_argument("--baseline-docs", metavar="DIR",
                   help="documents folder for the baselines (default: the index's documents folder, BOT_DOCS_DIR)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_eval)
    return parser


def cmd_translate(args: argparse.Namespace) -> int:
    from bot.translate import translate

    report = translate(_settings(args), limit=args.limit, source_prefix=args.source,
                       progress=sys.stderr.isatty() or args.progress)
    print(report.summary())
    return 0 if not report.failed else 1


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    for stream in (sys.stdout, sys.stderr):  # text that cannot be encoded is escaped, not a traceback
        try:
            stream.reconfigure(errors="backslashreplace")
        except (AttributeError, ValueError):
            pass
    args = build_parser().parse_args(argv)
    if getattr(args, "k", 1) is not None and getattr(args, "k", 1) < 1:
        print("error: -k must be at least 1", file=sys.stderr)
        return EXIT_BAD_INPUT
    from bot.errors import SettingsError

    try:
        return args.func(args)
    except SettingsError as exc:
        print(f"error: {_one_line(str(exc))}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BotError as exc:
        print(f"error: {_one_line(str(exc))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `| head` closed the pipe: not an error
        return 0
