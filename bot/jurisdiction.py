"""Whose law an answer quotes.

The statutes in the documents are the law of the People's Republic of China as it applies in the mainland. Hong
Kong, Macau and Taiwan have laws of their own, which the documents do not hold, and the assistant cannot tell
where a reader lives: a Hong Kong borrower asking about a money lender in written Cantonese gets mainland
private-lending rules quoted (README, "Limitations"). The citation names 《中华人民共和国…》, but a reader
under stress reads the quote, not the title. So an answer that quotes a statute says whose law it is when the
question may come from elsewhere: asked in Traditional Chinese, in English, in written Cantonese (read through
bot.dialect, so `Query.standard` is set), or naming one of those places.
"""
from __future__ import annotations

import re
from collections.abc import Iterable

from bot.query import Query

# The places with their own law, as a question names them (Simplified, Traditional, English).
_ELSEWHERE = re.compile(r"香港|澳[门門]|[台臺][湾灣]|hong\s?kong|\bhk\b|maca[uo]|taiwan", re.IGNORECASE)


def needs_note(query: Query, kinds: Iterable[str]) -> bool:
    """True when the answer quotes a statute (a passage of kind "article") and the question may come from a
    place whose law differs from the mainland's."""
    if "article" not in set(kinds):
        return False
    return query.language != "zh-Hans" or bool(query.standard) or bool(_ELSEWHERE.search(query.text))
