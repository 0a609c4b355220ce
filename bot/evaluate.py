"""`python -m bot eval FILE`: retrieval quality, abstention and latency on a question file.

File format: /work/shared/eval/README.md — {"id", "lang", "q", "gold": [[doc_prefix, snippet], ...],
"unanswerable"}. A retrieved passage is relevant when its doc_id starts with doc_prefix and its text
contains the snippet, both sides normalised (pinyin glosses removed, white space removed, NFKC, Simplified).
"""
from __future__ import annotations

import json
import re
import statistics
import time
from pathlib import Path
from typing import Any

from bot.core import Assistant, BotError
from bot.language import normalize_for_match

_PINYIN_GLOSS = re.compile(r"[((][a-zA-Zāáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜü0-9 ]+[))]")
K_VALUES = (1, 3, 5)


def _norm(text: str) -> str:
    return normalize_for_match(_PINYIN_GLOSS.sub("", text))


def load_questions(path: Path) -> list[dict[str, Any]]:
    questions = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise BotError(f"cannot read {path}: {exc.strerror}") from exc
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            row["q"], row.get("gold", [])
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise BotError(f"{path}:{number}: not a question record ({exc})") from exc
        questions.append(row)
    return questions


def relevant(doc_id: str, text: str, gold: list[list[str]]) -> bool:
    norm = _norm(text)
    return any(doc_id.startswith(prefix) and _norm(snippet) in norm for prefix, snippet in gold)


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def evaluate(assistant: Assistant, path: Path, k: int = 5) -> dict[str, Any]:
    questions = load_questions(path)
    per_question = []
    latencies = []
    assistant.ask("warm up")  # first call pays one-off costs; latency is reported warm
    for row in questions:
        hits = assistant.search(row["q"], k)
        t = time.perf_counter()
        answer = assistant.ask(row["q"])
        latencies.append((time.perf_counter() - t) * 1000)
        rank = next((i for i, h in enumerate(hits, 1) if relevant(h.passage.doc_id, h.passage.text, row.get("gold", []))), None)
        per_question.append({
            "id": row.get("id"), "lang": row.get("lang"), "q": row["q"], "unanswerable": bool(row.get("unanswerable")),
            "rank": rank, "abstained": answer.abstained, "answerer": answer.answerer,
            "fallback_reason": answer.fallback_reason, "dropped_sentences": answer.dropped_sentences,
            "language_match": _language_match(answer), "citations_valid": _citations_valid(answer),
            "top": [f"{h.passage.doc_id[:3]} {h.passage.text[:30]}" for h in hits[:3]],
        })
    answerable = [r for r in per_question if not r["unanswerable"]]
    unanswerable = [r for r in per_question if r["unanswerable"]]

    def recall(rows, n):
        return round(sum(1 for r in rows if r["rank"] and r["rank"] <= n) / len(rows), 3) if rows else None

    languages = sorted({r["lang"] for r in answerable if r["lang"]})
    return {
        "file": str(path),
        "questions": len(per_question),
        "answerable": len(answerable),
        **{f"recall@{n}": recall(answerable, n) for n in K_VALUES},
        "mrr": round(sum(1 / r["rank"] for r in answerable if r["rank"]) / len(answerable), 3) if answerable else None,
        "recall@5_by_language": {lang: recall([r for r in answerable if r["lang"] == lang], 5) for lang in languages},
        "unanswerable": len(unanswerable),
        "abstained_on_unanswerable": sum(r["abstained"] for r in unanswerable),
        "false_abstentions": sum(r["abstained"] for r in answerable),
        "answers": _answer_stats(per_question),
        "latency_ms": {"p50": round(statistics.median(latencies), 1) if latencies else 0.0,
                       "p95": round(_percentile(latencies, 0.95), 1)},
        "per_question": per_question,
    }


def _answer_body(answer) -> str:
    """The answer without lead line, markers and notice: what the language check looks at."""
    lines = [line for line in answer.answer.splitlines() if line.strip() and line.strip() != answer.notice]
    return re.sub(r"\[\d+\]", "", "\n".join(lines))


def _language_match(answer) -> bool | None:
    """LLM answers only: is the answer written in the question's language? (Extractive quotes are Chinese.)"""
    if answer.answerer != "llm" or answer.abstained:
        return None
    from bot.language import detect

    return detect(_answer_body(answer)) == answer.language


def _citations_valid(answer) -> bool:
    """Every [n] in the answer names a citation, and every citation is used."""
    used = {int(n) for n in re.findall(r"\[(\d+)\]", answer.answer)}
    return used == {c.n for c in answer.citations}


def _answer_stats(rows: list[dict[str, Any]]) -> dict[str, Any]:
    llm = [r for r in rows if r["answerer"] == "llm"]
    fallbacks = [r for r in rows if r["fallback_reason"]]
    checked = [r for r in llm if r["language_match"] is not None]
    return {
        "by_answerer": {name: sum(r["answerer"] == name for r in rows) for name in sorted({r["answerer"] for r in rows})},
        "llm_fallbacks": len(fallbacks),
        "fallback_reasons": {k: sum(r["fallback_reason"] == k for r in fallbacks) for k in sorted({r["fallback_reason"] for r in fallbacks})},
        "llm_dropped_sentences": sum(r["dropped_sentences"] for r in rows),
        "llm_language_match": round(sum(r["language_match"] for r in checked) / len(checked), 3) if checked else None,
        "citations_valid": round(sum(r["citations_valid"] for r in rows) / len(rows), 3) if rows else None,
    }


def format_report(report: dict[str, Any]) -> str:
    lines = [
        f"{report['questions']} questions ({report['answerable']} answerable, {report['unanswerable']} unanswerable) from {report['file']}",
        "recall@1 {recall@1}  recall@3 {recall@3}  recall@5 {recall@5}  MRR {mrr}".format(**report),
        "recall@5 by language: " + "  ".join(f"{k} {v}" for k, v in report["recall@5_by_language"].items()),
        f"abstained on {report['abstained_on_unanswerable']}/{report['unanswerable']} unanswerable; "
        f"false abstentions {report['false_abstentions']}/{report['answerable']}",
        f"ask latency (warm): p50 {report['latency_ms']['p50']} ms  p95 {report['latency_ms']['p95']} ms",
        "answers: {by_answerer}; citations valid {citations_valid}; LLM fallbacks {llm_fallbacks} {fallback_reasons}; "
        "LLM sentences dropped by verification {llm_dropped_sentences}; LLM answer language match {llm_language_match}".format(
            **report["answers"]),
        "misses and errors:",
    ]
    for r in report["per_question"]:
        wrong = (r["unanswerable"] and not r["abstained"]) or (not r["unanswerable"] and (r["abstained"] or not r["rank"] or r["rank"] > 1))
        if wrong:
            status = "answered (should abstain)" if r["unanswerable"] else (
                "abstained (should answer)" if r["abstained"] else f"rank {r['rank']}")
            lines.append(f"  {r['id']} [{r['lang']}] {r['q']} -> {status}; top: {' | '.join(r['top'])}")
    return "\n".join(lines)
