"""Cutting a passage into the sentences an answer quotes (and a stored English rendering is aligned to)."""
from __future__ import annotations

import re

# Sentence ends; a list item "1. ..." is one sentence even with a colon inside.
_SENTENCE = re.compile(r"[^。!?!?;;]+[。!?!?;;]*")
MIN_SENTENCE_CHARS = 8  # shorter fragments ("因此,") join the next sentence


def sentences(text: str) -> list[str]:
    out: list[str] = []
    for piece in (m.group(0).strip() for m in _SENTENCE.finditer(text)):
        if not piece:
            continue
        if out and len(out[-1]) < MIN_SENTENCE_CHARS:
            out[-1] += piece
        else:
            out.append(piece)
    return out
