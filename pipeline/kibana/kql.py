"""The subset of KQL the shipped objects use: ``field:value``, ``field:"a phrase"``, ``field:(a or b)``,
``and`` / ``or`` / ``not`` and parentheses.

Parsed, not pattern-matched, so the check can name every field a query touches and the tests can
run the query Kibana would build. What Kibana sends for ``field:value`` is a ``match`` query
(``match_phrase`` when quoted); ``or`` is a ``bool.should`` with ``minimum_should_match: 1``,
``and`` a ``bool.filter``, ``not`` a ``bool.must_not``. Free text without a field, ranges and
wildcards are not in the subset: a query using them is reported as not understood rather than
guessed at.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_TOKEN = re.compile(
    r'\s*(?:(?P<lparen>\()|(?P<rparen>\))|(?P<colon>:)|"(?P<quoted>(?:[^"\\]|\\.)*)"|(?P<word>[^\s():"]+))'
)
_KEYWORDS = {"and", "or", "not"}


class KqlError(ValueError):
    """A query outside the supported subset, with the position where reading stopped."""


@dataclass(frozen=True)
class _Token:
    kind: str  # lparen, rparen, colon, quoted, word, and, or, not
    text: str
    at: int


def _tokens(query: str) -> list[_Token]:
    out: list[_Token] = []
    pos = 0
    while pos < len(query):
        if query[pos:].strip() == "":
            break
        match = _TOKEN.match(query, pos)
        if not match or match.end() == pos:
            raise KqlError(f"cannot read {query[pos:]!r} at {pos}")
        kind = match.lastgroup or ""
        text, at = match.group(kind), match.start(kind)
        if kind == "quoted":
            text = re.sub(r"\\(.)", r"\1", text)
        elif kind == "word" and text.lower() in _KEYWORDS:
            kind = text.lower()
        out.append(_Token(kind, text, at))
        pos = match.end()
    return out


class _Parser:
    def __init__(self, query: str) -> None:
        self.query = query
        self.tokens = _tokens(query)
        self.i = 0

    def peek(self) -> _Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, kind: str) -> _Token:
        token = self.peek()
        if token is None or token.kind != kind:
            where = f"{token.text!r} at {token.at}" if token else "the end"
            raise KqlError(f"expected {kind} in {self.query!r}, found {where}")
        self.i += 1
        return token

    def parse(self) -> dict[str, Any]:
        if not self.tokens:
            return {"match_all": {}}
        node = self.disjunction(self.clause)
        if self.peek() is not None:
            token = self.tokens[self.i]
            raise KqlError(f"unexpected {token.text!r} at {token.at} in {self.query!r}")
        return node

    def disjunction(self, part: Any) -> dict[str, Any]:
        items = [self.conjunction(part)]
        while (token := self.peek()) is not None and token.kind == "or":
            self.i += 1
            items.append(self.conjunction(part))
        return items[0] if len(items) == 1 else {"bool": {"should": items, "minimum_should_match": 1}}

    def conjunction(self, part: Any) -> dict[str, Any]:
        items = [self.negation(part)]
        while (token := self.peek()) is not None and token.kind == "and":
            self.i += 1
            items.append(self.negation(part))
        return items[0] if len(items) == 1 else {"bool": {"filter": items}}

    def negation(self, part: Any) -> dict[str, Any]:
        token = self.peek()
        if token is not None and token.kind == "not":
            self.i += 1
            return {"bool": {"must_not": [self.negation(part)]}}
        result: dict[str, Any] = part()
        return result

    def clause(self) -> dict[str, Any]:
        token = self.peek()
        if token is not None and token.kind == "lparen":
            self.i += 1
            node = self.disjunction(self.clause)
            self.take("rparen")
            return node
        field = self.take("word").text
        self.take("colon")
        return self.values(field)

    def values(self, field: str) -> dict[str, Any]:
        token = self.peek()
        if token is not None and token.kind == "lparen":
            self.i += 1
            node = self.disjunction(lambda: self.values(field))
            self.take("rparen")
            return node
        if token is not None and token.kind == "quoted":
            self.i += 1
            return {"match_phrase": {field: token.text}}
        value = self.take("word").text
        if "*" in value or value.startswith(("<", ">")):
            raise KqlError(f"wildcards and ranges are outside the supported subset: {field}:{value}")
        return {"match": {field: value}}


def to_query(query: str) -> dict[str, Any]:
    """The Elasticsearch query Kibana builds for ``query`` (an empty query matches everything)."""
    return _Parser(query).parse()


def fields(query: str) -> set[str]:
    """Every field ``query`` names."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("match", "match_phrase"):
                    found.update(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(to_query(query))
    return found
