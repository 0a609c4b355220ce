"""How `bot eval` scores a ranking: metric functions on hand-made rankings, the fit/holdout split, and the
textbook baselines on a tiny in-memory corpus. No index, no model: everything here runs in milliseconds."""
from __future__ import annotations

import json
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
import pytest

from bot.baselines import BM25Baseline, DenseBaseline, Unit, article_key, paragraph_key
from bot.evaluate import (
    article_recall_at, evaluate, format_report, legal_ranks, mrr_at, rank_articles, relevant, split_of, success_at,
)


@dataclass
class P:
    """A retrieved passage as the index returns it (bot.types.Passage plus the law-article fields)."""

    id: str
    doc_id: str
    text: str
    law: str = ""
    article: str = ""
    article_no: int = 0
    article_suffix: int = 0
    version: str = ""


def civil(no: int, label: str, text: str, part: int = 0) -> P:
    return P(f"民法典/总则:{no}.{part}", "民法典/总则", text, "中华人民共和国民法典", label, no)


# --------------------------------------------------------------------------- aggregate metrics


def test_success_at_k_counts_questions_whose_first_relevant_unit_is_in_the_top_k():
    ranks = [1, 3, None, 7]  # per question: rank of the first relevant article, None = never found
    assert success_at(ranks, 1) == 0.25
    assert success_at(ranks, 5) == 0.5
    assert success_at(ranks, 10) == 0.75


def test_mrr_at_10_ignores_ranks_beyond_10():
    assert mrr_at([1, 2, 11, None], 10) == round((1 + 0.5) / 4, 3)
    assert mrr_at([1, 2, 11, None]) == round((1 + 0.5 + 1 / 11) / 4, 3)  # passage files: no cut-off


def test_article_recall_is_the_mean_share_of_each_questions_gold_articles_found():
    # question 1 has two gold articles, found at ranks 1 and 12; question 2 has one, never found
    assert article_recall_at([[1, 12], [None]], 10) == 0.25
    assert article_recall_at([[1, 12], [None]], 100) == 0.5


# --------------------------------------------------------------------------- ranking units and relevance


def test_passages_of_one_article_merge_into_one_unit_at_the_first_ones_rank():
    ranking = [
        civil(56, "第五十六条", "个体工商户的债务，个人经营的，以个人财产承担", part=0),
        civil(56, "第五十六条", "农村承包经营户的债务，以从事农村土地承包经营的农户财产承担", part=1),
        P("000_x", "000_x", "催收人员不得威胁借款人"),  # no article fields: the passage is its own unit
        civil(57, "第五十七条", "法人是具有民事权利能力和民事行为能力……"),
        civil(56, "第五十六条", "个体工商户的债务，个人经营的，以个人财产承担", part=0),  # later repeat: no new unit
    ]
    units = rank_articles(ranking)
    assert [u.article or u.doc_id for u in units] == ["第五十六条", "000_x", "第五十七条"]
    assert "农村承包经营户" in units[0].text  # the unit's text is the article's passages joined


def test_a_unit_matches_a_gold_article_by_any_of_its_snippets_even_across_its_split_passages():
    gold_articles = [["个人经营的,以个人财产承担"], ["法人是具有民事权利能力"], ["不在检索结果里的条文"]]
    units = rank_articles([
        P("x", "000_x", "无关的段落"),
        civil(56, "第五十六条", "个体工商户的债务，", part=0),
        civil(56, "第五十六条", "个人经营的，以个人财产承担", part=1),  # the snippet spans the split: still found
        civil(57, "第五十七条", "法人是具有民事权利能力和民事行为能力"),
    ])
    first, group_ranks = legal_ranks(units, gold_articles)
    assert first == 2
    assert group_ranks == [2, 3, None]
    assert article_recall_at([group_ranks], 10) == round(2 / 3, 3)


def test_the_index_whole_article_text_decides_relevance_when_only_part_of_it_was_retrieved():
    retrieved = [civil(56, "第五十六条", "个体工商户的债务，个人经营的，以个人财产承担", part=0)]
    whole = {article_key("民法典/总则", "第五十六条", 56): "个体工商户的债务……\n农村承包经营户的债务，以从事农村土地承包经营"}
    first, _ = legal_ranks(rank_articles(retrieved, whole), [["农村承包经营户的债务"]])
    assert first == 1


def test_a_gold_doc_fragment_matches_anywhere_in_the_doc_id():
    gold = [["人格权编", "侵扰他人的私人生活安宁"]]
    assert relevant("民法典/人格权编", "以电话、短信等方式侵扰他人的私人生活安宁", gold)
    assert not relevant("民法典/总则", "以电话、短信等方式侵扰他人的私人生活安宁", gold)
    assert relevant("004_55be76d257ea3af0", "不得采取騷擾、威脅", [["004", "不得采取骚扰、威胁"]])  # prefix; t2s


# --------------------------------------------------------------------------- split


def test_split_is_a_stable_function_of_the_id_and_about_70_30():
    assert split_of("S2") == split_of("S2")
    assert {split_of(f"S{i}") for i in range(50)} == {"fit", "holdout"}
    fit = sum(split_of(f"S{i}") == "fit" for i in range(2000)) / 2000
    assert 0.66 < fit < 0.74


# --------------------------------------------------------------------------- baselines


CORPUS = [
    Unit(article_key("民法典/总则", "第五十六条", 56), "民法典/总则", "个体工商户的债务，个人经营的，以个人财产承担",
         law="中华人民共和国民法典", article="第五十六条"),
    Unit(article_key("刑法", "第二百三十八条", 238), "刑法", "非法拘禁他人或者以其他方法非法剥夺他人人身自由的",
         law="中华人民共和国刑法", article="第二百三十八条"),
    Unit(paragraph_key("004_x:0"), "004_x", "催收人员不得采取骚扰、威胁的方式催收欠款"),
]


def test_bm25_baseline_ranks_whole_units_by_shared_words_and_skips_units_sharing_none():
    bm25 = BM25Baseline(CORPUS)
    [ranking] = bm25.rank_many(["催收员威胁我怎么办"], k=3)
    assert ranking == [2]
    [ranking] = bm25.rank_many(["被非法拘禁了"], k=3)
    assert ranking[0] == 1


class CharEmbedder:
    """Fake e5: a normalised bag of characters (so shared characters mean similarity); counts its calls."""

    model_id = "fake-chars"
    vocabulary = sorted(set("".join(u.retrieval_text for u in CORPUS) + "我被关了债务"))

    def __init__(self):
        self.passage_calls = 0

    def _vectors(self, texts):
        m = np.array([[t.count(c) for c in self.vocabulary] for t in texts], dtype=np.float32)
        return m / np.maximum(np.linalg.norm(m, axis=1, keepdims=True), 1e-9)

    def query(self, texts):
        return self._vectors(texts)

    def passage(self, texts):
        self.passage_calls += 1
        return self._vectors(texts)


def test_dense_baseline_ranks_by_cosine_and_caches_the_unit_matrix(tmp_path):
    embedder = CharEmbedder()
    dense = DenseBaseline(CORPUS, embedder, cache_dir=tmp_path)
    assert dense.rank_many(["个体工商户的债务"], k=2)[0][0] == 0
    assert len(list(tmp_path.glob("*.npy"))) == 1

    again = DenseBaseline(CORPUS, embedder, cache_dir=tmp_path)  # same texts, same model: read from disk
    assert embedder.passage_calls == 1
    assert np.array_equal(again.matrix, dense.matrix)


# --------------------------------------------------------------------------- the whole report


class FakeAssistant:
    """Retrieval returns the two civil-code passages in a fixed order; never abstains."""

    settings = SimpleNamespace(docs_dir="unused")

    def search(self, question, k):
        ranking = [P("4:0", "004_x", "催收人员不得采取骚扰、威胁的方式"),
                   civil(56, "第五十六条", "个体工商户的债务，个人经营的，以个人财产承担")]
        return [SimpleNamespace(passage=p, score=1.0) for p in ranking[:k]]

    def ask(self, question):
        return SimpleNamespace(abstained=False, answer="答[1]", citations=[SimpleNamespace(n=1)], answerer="extractive",
                               fallback_reason="", dropped_sentences=0, language="zh-Hans", notice="")


def test_a_legal_file_reports_article_metrics_beside_the_baselines(tmp_path):
    rows = [{"id": "S1", "lang": "zh-Hans", "q": "个体工商户的债务谁来还", "gold": [["", "个人经营的,以个人财产承担"]],
             "gold_articles": [["个人经营的,以个人财产承担"]], "articles": ["中华人民共和国民法典第五十六条"]}]
    path = tmp_path / "stard.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")

    report = evaluate(FakeAssistant(), path, baselines=[BM25Baseline(CORPUS)])

    assert report["kind"] == "legal"
    assert report["success@1"] == 0.0 and report["success@5"] == 1.0 and report["mrr@10"] == 0.5
    assert report["baselines"]["bm25-articles"]["success@1"] == 1.0
    assert report["false_abstentions"] == 0
    table = format_report(report)
    assert "system/best" in table and "success@5" in table and "0.50" in table  # mrr@10: 0.5 vs BM25's 1.0


def test_split_selects_questions_by_id(tmp_path):
    rows = [{"id": f"D{i}", "lang": "en", "q": f"q{i}", "gold": [["004", "骚扰"]]} for i in range(30)]
    path = tmp_path / "dev.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    fit = evaluate(FakeAssistant(), path, split="fit", baselines=False)
    holdout = evaluate(FakeAssistant(), path, split="holdout", baselines=False)
    assert fit["questions"] + holdout["questions"] == 30
    assert {r["split"] for r in fit["per_question"]} == {"fit"}
    assert fit["recall@1"] == 1.0 and "baselines" not in fit


def test_an_unknown_split_is_a_user_error(tmp_path):
    from bot.errors import BotError

    with pytest.raises(BotError):
        evaluate(FakeAssistant(), tmp_path / "x.jsonl", split="train")
