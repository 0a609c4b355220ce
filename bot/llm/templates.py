"""The LLM prompt templates prompts/<name>.md: loaded and checked once, at start-up; filled in per request.

A template is a system part and a user part separated by a line "===== USER =====", with Python str.format
fields; a leading <!-- comment --> is not sent. `PromptTemplate.load(name, prompts_dir, fields)` checks that the
template uses exactly the fields the code fills in (each at least once, no others), so a typo such as {questoin}
is a PromptTemplateError when the components are built, not a failed request on every answer.
Data put into a prompt goes through `sanitize`, so it cannot close the tag that wraps it.
"""
from __future__ import annotations

import re
import string
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot import prompts
from bot.errors import BotError

SENTINEL = "CANNOT_ANSWER"  # what the model replies when the passages do not answer (the prompts name it)

_USER_SPLIT = re.compile(r"^=====\s*USER\s*=====\s*$", re.MULTILINE)
_COMMENT = re.compile(r"\A\s*<!--.*?-->\s*", re.DOTALL)
_TAGS = re.compile(r"<\s*/?\s*(?:passages?|question|history|system|user|assistant)\b[^>]*>", re.IGNORECASE)


class PromptTemplateError(BotError, ValueError):
    """A prompt template cannot be used: no '===== USER =====' line, bad braces, or unknown / unused fields."""


def sanitize(data: str) -> str:
    """Data that goes into a prompt: our delimiter tags inside it are neutralised, so it cannot close its block."""
    return _TAGS.sub(lambda m: m.group(0).replace("<", "‹").replace(">", "›"), data).strip()


def _fields(text: str) -> Iterator[tuple[str, str | None]]:
    """(field name, conversion) of every replacement field in a str.format string, nested ones included."""
    for _, name, spec, conversion in string.Formatter().parse(text):
        if name is not None:
            yield name, conversion
            if spec:
                yield from _fields(spec)


@dataclass(frozen=True)
class PromptTemplate:
    name: str
    system: str
    user: str
    fields: frozenset[str]

    @classmethod
    def load(cls, name: str, prompts_dir: Path, fields: frozenset[str]) -> PromptTemplate:
        """prompts/<name>.md, checked against the `fields` the code fills in; raises PromptTemplateError."""
        where = f"prompts/{name}.md ({prompts_dir / f'{name}.md'})"
        raw = _COMMENT.sub("", prompts.template(name, prompts_dir))
        parts = _USER_SPLIT.split(raw, maxsplit=1)
        if len(parts) != 2:
            raise PromptTemplateError(f"{where} needs a line '===== USER =====' between system and user parts")
        system, user = parts[0].strip(), parts[1].strip()
        used: set[str] = set()
        for part in (system, user):
            try:
                found = list(_fields(part))
            except ValueError as exc:  # "Single '}' encountered", "expected '}' before end of string"
                raise PromptTemplateError(
                    f"{where}: {exc} (a literal brace must be doubled: {{{{ or }}}})"
                ) from None
            for field_name, conversion in found:
                if conversion not in (None, "r", "s", "a"):
                    raise PromptTemplateError(f"{where}: field {{{field_name}!{conversion}}} has an unknown conversion")
                used.add(field_name)
        unknown = sorted(used - fields)
        missing = sorted(fields - used)
        if unknown or missing:
            problems = []
            if unknown:
                problems.append("unknown field(s) " + ", ".join(f"{{{f}}}" for f in unknown))
            if missing:
                problems.append("missing field(s) " + ", ".join(f"{{{f}}}" for f in missing))
            raise PromptTemplateError(
                f"{where}: {'; '.join(problems)}. The fields are "
                + ", ".join(f"{{{f}}}" for f in sorted(fields))
                + " (each used at least once); a literal brace must be doubled."
            )
        template = cls(name=name, system=system, user=user, fields=fields)
        try:
            template.format(**{f: "" for f in fields})  # anything str.format still objects to (format specs)
        except (ValueError, KeyError, IndexError, AttributeError, TypeError) as exc:
            raise PromptTemplateError(f"{where}: {type(exc).__name__}: {exc}") from None
        return template

    def format(self, **values: str) -> tuple[str, str]:
        """(system, user) with the fields filled in; `values` must name exactly this template's fields."""
        if set(values) != self.fields:
            raise TypeError(f"prompts/{self.name}.md takes {sorted(self.fields)}, got {sorted(values)}")
        return self.system.format(**values), self.user.format(**values)

    def messages(self, **values: str) -> list[Any]:
        """The chat messages (system, user) for one request."""
        from langchain_core.messages import HumanMessage, SystemMessage

        system, user = self.format(**values)
        return [SystemMessage(system), HumanMessage(user)]
