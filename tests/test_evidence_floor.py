"""The evidence gate's hard floor: what declines a question whoever decides the rest."""
from __future__ import annotations

from types import SimpleNamespace

from bot.evidence import Coverage, EvidenceGate

SETTINGS = SimpleNamespace(abstain_min_dense=0.80)
HITS = [object()]  # below_floor only asks whether there are hits


def gate(model=None) -> EvidenceGate:
    return EvidenceGate(corpus=None, settings=SETTINGS, model=model)


def test_no_shared_word_declines_when_the_rules_decide():
    assert gate().below_floor(HITS, Coverage(dense=0.90, lexical=0.0))
    assert not gate().below_floor(HITS, Coverage(dense=0.90, lexical=3.2))


def test_no_shared_word_is_left_to_the_learned_model():
    # A colloquial question can share no word with the statute that answers it; the model weighs that
    # (its `lexical` feature) with the rest of the evidence instead.
    assert not gate(model=object()).below_floor(HITS, Coverage(dense=0.90, lexical=0.0))
    assert not gate().below_floor(HITS, Coverage(dense=0.90, lexical=0.0), with_model=True)


def test_no_hits_or_a_loose_match_declines_whoever_decides():
    for g in (gate(), gate(model=object())):
        assert g.below_floor([], Coverage(dense=0.0, lexical=0.0))
        assert g.below_floor(HITS, Coverage(dense=0.70, lexical=5.0))
