"""The learned reranker: features that describe a candidate among the others, and trees scored in numpy exactly
as scikit-learn fitted them."""
from __future__ import annotations

import json

import numpy as np
import pytest

from bot import rerank
from bot.memory import Votes
from bot.types import Passage

NO_VOTES = Votes(article={}, article_max={}, law={}, chapter={}, prior={})


def article(no: int, section: str, text: str = "条文", law: str = "中华人民共和国民法典") -> Passage:
    label = f"第{no}条"
    return Passage(id=f"law:{no}", doc_id="law", title=law, section=section, text=text, start=0, end=len(text),
                   source="law.md", kind="article", law=law, law_key=law, article=label, article_no=no)


def column(name: str) -> int:
    return rerank.FEATURES.index(name)


def test_group_features_say_how_strongly_the_question_points_at_a_chapter():
    passages = [article(1, "第一章", "甲" * 10), article(2, "第一章"), article(3, "第二章", "乙" * 100)]
    dense = np.array([0.9, 0.5, 0.7], dtype=np.float32)
    f = rerank.feature_matrix(passages, np.arange(3), dense, np.zeros(3), np.arange(3, dtype=np.float32), NO_VOTES)
    # Both articles of chapter one share the chapter's best cosine (the best of all: 0); chapter two is 0.2 behind.
    assert f[:, column("chapter_best")] == pytest.approx([0.0, 0.0, -0.2])
    assert f[:, column("law_best")] == pytest.approx([0.0, 0.0, 0.0])  # one law
    z = f[:, column("dense_z")]
    assert z[0] > z[2] > z[1] and abs(z.mean()) < 1e-5
    assert f[2, column("length")] > f[0, column("length")]


def test_a_passage_of_an_article_document_groups_by_its_document():
    text = Passage(id="001:0", doc_id="001", title="催收", section="上門催收", text="上门催收", start=0, end=4,
                   source="001.txt")
    passages = [article(1, "第一章"), text]
    f = rerank.feature_matrix(passages, np.arange(2), np.array([0.8, 0.6], dtype=np.float32), np.zeros(2),
                              np.arange(2, dtype=np.float32), NO_VOTES)
    assert f[:, column("law_best")] == pytest.approx([0.0, -0.2])
    assert f[1, column("vote")] == 0.0


def test_numpy_trees_score_exactly_what_scikit_learn_fitted(tmp_path):
    ensemble = pytest.importorskip("sklearn.ensemble")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2000, len(rerank.FEATURES))).astype(np.float32)
    y = x[:, 0] + x[:, 3] * x[:, 5] + rng.normal(size=2000) > 1
    model = ensemble.HistGradientBoostingClassifier(max_iter=30, max_leaf_nodes=15, random_state=0).fit(x, y)
    path = tmp_path / "reranker.json"
    path.write_text(json.dumps(rerank.export_trees(model, "synthetic")), encoding="utf-8")
    trees = rerank.load(path)
    assert isinstance(trees, rerank.TreeReranker) and trees.fitted_on == "synthetic"
    assert np.abs(trees.scores(x) - model.decision_function(x)).max() < 1e-5
    assert trees.scores(np.zeros((0, len(rerank.FEATURES)), dtype=np.float32)).shape == (0,)


def test_a_linear_model_still_loads(tmp_path):
    path = tmp_path / "reranker.json"
    weights = [0.0] * len(rerank.FEATURES)
    weights[0] = 2.0
    path.write_text(json.dumps({"features": list(rerank.FEATURES), "kind": "linear", "weights": weights, "bias": -1}))
    linear = rerank.load(path)
    assert linear.scores(np.eye(len(rerank.FEATURES), dtype=np.float32))[0] == pytest.approx(1.0)


def test_a_model_fitted_for_other_features_is_refused_with_the_way_out(tmp_path):
    path = tmp_path / "reranker.json"
    path.write_text(json.dumps({"features": ["dense"], "weights": [1.0], "bias": 0.0}))
    with pytest.raises(ValueError, match="fit_reranker"):
        rerank.load(path)


def test_the_shipped_model_sums_a_linear_model_and_trees_fitted_on_the_fit_split():
    shipped = rerank.load()
    assert isinstance(shipped, rerank.SumReranker)
    assert [type(p) for p in shipped.parts] == [rerank.LinearReranker, rerank.TreeReranker]
    assert "split fit" in shipped.fitted_on  # fitted on STARD's fit split, never its holdout
    features = np.random.default_rng(1).normal(size=(50, len(rerank.FEATURES))).astype(np.float32)
    assert shipped.scores(features) == pytest.approx(sum(p.scores(features) for p in shipped.parts), abs=1e-4)


def test_more_evidence_never_lowers_the_trees_score():
    """The trees are fitted monotone in the evidence features: raising the cosine or the votes of a candidate,
    all else equal, cannot lower its score (a fit-data pattern cannot invert evidence on a new question)."""
    trees = rerank.load().parts[1]
    base = np.random.default_rng(2).normal(size=(200, len(rerank.FEATURES))).astype(np.float32)
    for name in ("dense", "vote", "chapter_best", "dense_z"):
        raised = base.copy()
        raised[:, column(name)] += 0.5
        assert np.all(trees.scores(raised) >= trees.scores(base) - 1e-6), name


def test_coverage_questions_vote_apart_and_count_in_no_articles_popularity():
    """Questions written for every article (bot.memory.COVERAGE_SOURCES) say what an article is about, not how
    often people ask about it: their weight goes to `coverage_vote`, and they leave `prior` alone."""
    from bot.memory import QuestionMemory

    law = "中华人民共和国民法典"
    entries = [{"q": "朋友借钱不还怎么办", "articles": [[law, 1, 0]], "source": "legal_questions"},
               {"q": "借钱没说利息能要利息吗", "articles": [[law, 2, 0]], "source": "article_questions"}]
    vectors = np.array([[1.0, 0.0], [0.8, 0.6]], dtype=np.float32)
    memory = QuestionMemory(entries, vectors, {})
    votes = memory.votes(np.array([0.9, 0.436], dtype=np.float32))
    asked, written = (law, 1, 0), (law, 2, 0)
    assert set(votes.article) == {asked} and set(votes.coverage) == {written}
    assert votes.prior == {asked: 1}
    assert set(votes.article_max) == {asked, written}  # the best cosine of any neighbour naming it
    f = rerank.feature_matrix([article(1, "第一章"), article(2, "第一章")], np.arange(2), np.array([0.5, 0.5]),
                              np.zeros(2), np.arange(2, dtype=np.float32), votes)
    assert f[0, column("vote")] > 0 and f[0, column("coverage_vote")] == 0
    assert f[1, column("vote")] == 0 and f[1, column("coverage_vote")] > 0


def test_deeper_neighbours_propose_candidates_without_voting():
    """The nearest NEIGHBOURS questions vote; the articles of the nearest `proposers` become candidates too, so a
    deep ranking (article recall@100) is not limited to what ten neighbours name."""
    from bot.memory import NEIGHBOURS, QuestionMemory

    law = "中华人民共和国民法典"
    count = NEIGHBOURS + 5
    entries = [{"q": f"问题{i}", "articles": [[law, i, 0]], "source": "legal_questions"} for i in range(count)]
    angles = np.linspace(0.0, 1.0, count)  # question i is the i-th nearest to the query below
    vectors = np.stack([np.cos(angles), np.sin(angles)], axis=1).astype(np.float32)
    query = np.array([1.0, 0.0], dtype=np.float32)
    votes = QuestionMemory(entries, vectors, {}, proposers=count).votes(query)
    assert set(votes.article) == {(law, i, 0) for i in range(NEIGHBOURS)}
    assert votes.proposed == [(law, i, 0) for i in range(count)]
    assert QuestionMemory(entries, vectors, {}).votes(query).proposed == [(law, i, 0) for i in range(NEIGHBOURS)]


def test_a_question_can_name_a_passage_of_a_document_that_is_not_a_statute():
    """Questions written for the articles' passages ("passages": [[doc_id, quote]]) resolve to the passage that
    holds the quote, whatever the document's splitting, and vote for it as coverage questions vote for articles."""
    from bot.memory import QuestionMemory, resolve

    def paragraph(ordinal: int, text: str) -> Passage:
        return Passage(id=f"guide:{ordinal}", doc_id="guide", title="指南", section="分期", text=text, start=0,
                       end=len(text), source="guide.txt")

    passages = [paragraph(0, "催收人員上門前，通常會先打電話聯繫。"), paragraph(1, "申請分期時，需要提供收入證明與逾期原因。"),
                article(1, "第一章")]
    entries = resolve([{"q": "分期要准备什么材料", "passages": [["guide", "需要提供收入证明"]], "source": "passage_questions"},
                       {"q": "别的文件", "passages": [["other", "需要提供收入证明"]], "source": "passage_questions"}],
                      passages)
    assert [e["articles"] for e in entries] == [[["doc:guide", -1, 1]]]  # Simplified quote, Traditional text
    memory = QuestionMemory(entries, np.array([[1.0, 0.0]], dtype=np.float32), {p.memory_key: p.section for p in passages})
    votes = memory.votes(np.array([1.0, 0.0], dtype=np.float32))
    assert votes.prior == {}  # written for the passage: coverage, not popularity
    f = rerank.feature_matrix(passages, np.arange(3), np.array([0.5, 0.5, 0.5]), np.zeros(3),
                              np.arange(3, dtype=np.float32), votes)
    assert f[1, column("coverage_vote")] > 0 and f[0, column("coverage_vote")] == 0 == f[2, column("coverage_vote")]
    assert f[0, column("law_vote")] == f[1, column("law_vote")] == 1.0  # the document speaks as a law would


def test_remembered_questions_sharing_the_questions_words_score_and_propose_their_articles():
    """The memory's lexical side: the articles of the questions with the most (BM25-weighted) words in common
    with the question get `question_bm25` and become candidates, whatever the embedding says."""
    from bot.memory import QuestionMemory

    law = "中华人民共和国民法典"
    entries = [{"q": "催收天天打电话到我单位找领导", "articles": [[law, 1, 0]], "source": "article_questions"},
               {"q": "借钱不还会不会坐牢", "articles": [[law, 2, 0]], "source": "legal_questions"}]
    vectors = np.array([[0.0, 1.0], [0.0, 1.0]], dtype=np.float32)  # both far from the query's vector
    memory = QuestionMemory(entries, vectors, {})
    votes = memory.votes(np.array([1.0, 0.0], dtype=np.float32), "催收打电话到单位，领导都知道了")
    assert votes.lexical == {(law, 1, 0): 1.0}
    assert (law, 1, 0) in votes.proposed
    f = rerank.feature_matrix([article(1, "第一章"), article(2, "第一章")], np.arange(2), np.array([0.5, 0.5]),
                              np.zeros(2), np.arange(2, dtype=np.float32), votes)
    assert f[0, column("question_bm25")] == 1.0 and f[1, column("question_bm25")] == 0.0
    memory.exclude(["催收天天打电话到我单位找领导"])  # a held-out question never speaks for itself
    assert memory.votes(np.array([1.0, 0.0], dtype=np.float32), "催收打电话到单位，领导都知道了").lexical == {}


def test_the_memorys_words_are_matched_against_the_question_as_retrieval_reads_it():
    """Written Cantonese is read in Standard-Chinese words (bot.dialect, Query.standard) before retrieval; the
    memory's lexical side matches those words too, not 佢哋/咗 as typed."""
    from bot.memory import QuestionMemory

    law = "中华人民共和国民法典"
    entries = [{"q": "他们把我的照片发到网上", "articles": [[law, 1, 0]], "source": "article_questions"}]
    memory = QuestionMemory(entries, np.array([[0.0, 1.0]], dtype=np.float32), {})
    far = np.array([1.0, 0.0], dtype=np.float32)
    assert memory.votes(far, "佢哋將我啲相放咗上網").lexical == {}
    assert memory.votes(far, "佢哋將我啲相放咗上網", read_as="他们把我的照片放了上网").lexical == {(law, 1, 0): 1.0}


def test_an_articles_profile_is_its_text_with_all_its_coverage_questions():
    """Each article is also matched as a whole: BM25 over its text with every coverage question written for it
    (`expanded_bm25`), and the cosine of its questions' mean vector (`profile_cosine`, and `profile_z` among the
    candidates). Asked questions are no part of a profile (they vote; a profile describes the article), and a
    question left out of the memory leaves the profile too."""
    from bot.memory import QuestionMemory

    law = "中华人民共和国民法典"
    first, second = (law, 1, 0), (law, 2, 0)
    entries = [{"q": "催收天天打电话到我单位", "articles": [list(first)], "source": "article_questions"},
               {"q": "催收打爆通讯录怎么办", "articles": [list(first)], "source": "article_questions"},
               {"q": "催收找我单位领导", "articles": [list(second)], "source": "legal_questions"},
               {"q": "借条丢了还能起诉吗", "articles": [list(second)], "source": "article_questions"}]
    vectors = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [-1.0, 0.0]], dtype=np.float32)
    memory = QuestionMemory(entries, vectors, {}, text_of={first: "不得泄露个人信息", second: "借款合同应当采用书面形式"})
    votes = memory.votes(np.array([1.0, 0.0], dtype=np.float32), "催收打电话到单位")
    f = rerank.feature_matrix([article(1, "第一章"), article(2, "第一章"), article(3, "第一章")], np.arange(3),
                              np.full(3, 0.5), np.zeros(3), np.arange(3, dtype=np.float32), votes)
    assert f[0, column("expanded_bm25")] == 1.0 and f[1, column("expanded_bm25")] == 0.0  # the asked one is no part
    assert f[0, column("profile_cosine")] == pytest.approx(np.sqrt(0.5))  # mean of (1, 0) and (0, 1)
    assert f[1, column("profile_cosine")] == pytest.approx(-1.0)
    assert f[2, column("expanded_bm25")] == f[2, column("profile_cosine")] == 0.0  # no coverage questions
    assert f[0, column("profile_z")] > 0 > f[1, column("profile_z")]
    # Its own words in the article text count too: 泄露 is in no question.
    assert memory.votes(np.array([1.0, 0.0], dtype=np.float32), "泄露").expanded[votes.profile_row[first]] == 1.0
    memory.exclude(["催收天天打电话到我单位"])
    left = memory.votes(np.array([1.0, 0.0], dtype=np.float32), "催收打电话到单位")
    assert left.centroid[left.profile_row[first]] == pytest.approx(0.0)  # only (0, 1) is left


def test_retrieval_and_the_gate_share_one_pass_over_the_memory(monkeypatch):
    """votes() (retrieval) and support() (the evidence gate) read the same question's cosines to every remembered
    question; they are computed once, and a left-out question is still skipped by both."""
    import bot.memory as memory_module
    from bot.memory import QuestionMemory

    law = "中华人民共和国民法典"
    entries = [{"q": "催收打电话到单位", "articles": [[law, 1, 0]], "source": "legal_questions"},
               {"q": "借条丢了", "articles": [[law, 2, 0]], "source": "legal_questions"}]
    memory = QuestionMemory(entries, np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32), {})
    passes = []
    real = memory_module._cosines
    monkeypatch.setattr(memory_module, "_cosines",
                        lambda vectors, q: passes.append(vectors is memory.vectors) or real(vectors, q))
    question = np.array([1.0, 0.0], dtype=np.float32)
    memory.votes(question, "单位的事")
    assert memory.support(question, [(law, 1, 0)], "单位的事") == (1.0, 1.0)
    assert memory.support(question, [(law, 1, 0)], "催收打电话到单位") == (0.0, 0.0)  # never supports itself
    assert memory.support(question, [(law, 1, 0)], "单位的事") == (1.0, 1.0)  # the skip did not stick
    assert passes.count(True) == 1
    memory.support(np.array([0.0, 1.0], dtype=np.float32), [(law, 2, 0)])
    assert passes.count(True) == 2  # another question: another pass
