"""MLflow search syntax: ``filter`` strings and ``order_by`` terms, parsed to Clause/OrderKey.

    metrics.acc > 0.5 and params.lr = '0.1' and tags.`my tag` LIKE 'a%'
    attributes.status IN ('FINISHED', 'FAILED') and run_name != "x"

Only AND joins clauses, as in MLflow. An identifier without a prefix is an attribute. Keys that
are not bare words are quoted with backticks or double quotes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from ember.errors import InvalidInputError
from ember.entities.tracking import Clause, OrderKey

_PREFIXES = {
    "metric": "metric", "metrics": "metric",
    "param": "param", "params": "param", "parameter": "param", "parameters": "param",
    "tag": "tag", "tags": "tag",
    "attribute": "attribute", "attributes": "attribute", "attr": "attribute",
    "run": "attribute",
}
_NUMERIC_OPS = ("=", "!=", ">", ">=", "<", "<=")
_STRING_OPS = ("=", "!=", "LIKE", "ILIKE", "IN", "NOT_IN")
_NULL_OPS = ("IS_NULL", "IS_NOT_NULL")

RUN_ATTRIBUTES = {
    "run_id": "string", "run_name": "string", "status": "string", "user_id": "string",
    "artifact_uri": "string", "lifecycle_stage": "string", "experiment_id": "string",
    "start_time": "number", "end_time": "number", "created": "number",
}
RUN_ATTRIBUTE_ALIASES = {"created": "start_time", "run_uuid": "run_id", "Created": "start_time"}
EXPERIMENT_ATTRIBUTES = {
    "name": "string", "experiment_id": "string",
    "creation_time": "number", "last_update_time": "number",
}
MODEL_ATTRIBUTES = {
    "model_id": "string", "name": "string", "status": "string", "model_type": "string",
    "source_run_id": "string", "creation_timestamp": "number", "creation_time": "number",
    "last_updated_timestamp": "number",
}
MODEL_ATTRIBUTE_ALIASES = {"creation_time": "creation_timestamp"}

_WS = re.compile(r"\s*")
_WORD = re.compile(r"[\w.\-:/]+")
_NUMBER = re.compile(r"[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?")
_OP = re.compile(r"(!=|<>|>=|<=|=|>|<|(?i:not\s+in\b|in\b|i?like\b|is\s+not\s+null\b|"
                 r"is\s+null\b))")
_AND = re.compile(r"and\b", re.IGNORECASE)


class _Scanner:
    def __init__(self, text: str, what: str) -> None:
        self.text = text
        self.pos = 0
        self.what = what

    def fail(self, message: str) -> InvalidInputError:
        return InvalidInputError(
            f"invalid {self.what} {self.text!r} at position {self.pos}: {message}")

    def skip(self) -> None:
        self.pos = _WS.match(self.text, self.pos).end()  # type: ignore[union-attr]

    def done(self) -> bool:
        self.skip()
        return self.pos >= len(self.text)

    def match(self, pattern: re.Pattern[str]) -> str | None:
        self.skip()
        m = pattern.match(self.text, self.pos)
        if m is None:
            return None
        self.pos = m.end()
        return m.group(0)

    def peek(self) -> str:
        self.skip()
        return self.text[self.pos:self.pos + 1]

    def quoted(self) -> str:
        """A '…', "…" or `…` token; a doubled quote character stands for itself."""
        quote = self.text[self.pos]
        out, i = [], self.pos + 1
        while i < len(self.text):
            ch = self.text[i]
            if ch == quote:
                if self.text[i + 1:i + 2] == quote:
                    out.append(quote)
                    i += 2
                    continue
                self.pos = i + 1
                return "".join(out)
            if ch == "\\" and i + 1 < len(self.text):
                out.append(self.text[i + 1])
                i += 2
                continue
            out.append(ch)
            i += 1
        raise self.fail("unterminated quote")

    def identifier(self) -> tuple[str | None, str]:
        """(prefix or None, key)."""
        if self.peek() in ("`", '"'):
            return None, self.quoted()
        word = self.match(_WORD)
        if word is None:
            raise self.fail("expected an identifier")
        head, dot, rest = word.partition(".")
        if dot and head.lower() in _PREFIXES:
            if rest:
                return _PREFIXES[head.lower()], rest
            if self.peek() in ("`", '"'):
                return _PREFIXES[head.lower()], self.quoted()
            raise self.fail(f"expected a key after {head!r}.")
        return None, word

    def value(self) -> str | float | list[str]:
        ch = self.peek()
        if ch in ("'", '"'):
            return self.quoted()
        if ch == "(":
            self.pos += 1
            items: list[str] = []
            while True:
                if self.peek() not in ("'", '"'):
                    raise self.fail("IN lists hold quoted strings")
                items.append(self.quoted())
                if self.peek() == ",":
                    self.pos += 1
                    continue
                if self.peek() == ")":
                    self.pos += 1
                    return items
                raise self.fail("expected ',' or ')'")
        number = self.match(_NUMBER)
        if number is None:
            raise self.fail("expected a quoted string, a number or a (list)")
        return float(number)


def _normalise_op(raw: str) -> str:
    op = " ".join(raw.upper().split()).replace(" ", "_")
    return "!=" if op == "<>" else op


def parse_filter(text: str | None, attributes: dict[str, str],
                 aliases: dict[str, str] | None = None) -> list[Clause]:
    """Parse a filter string; ``attributes`` maps attribute names to "string" or "number"."""
    if not text or not text.strip():
        return []
    aliases = aliases or {}
    scan = _Scanner(text, "filter")
    clauses: list[Clause] = []
    while True:
        prefix, key = scan.identifier()
        entity = prefix or "attribute"
        raw_op = scan.match(_OP)
        if raw_op is None:
            raise scan.fail("expected a comparison (=, !=, >, >=, <, <=, LIKE, ILIKE, IN, IS)")
        op = _normalise_op(raw_op)
        value = None if op in _NULL_OPS else scan.value()
        clauses.append(_checked(scan, entity, key, op, value, attributes, aliases))
        if scan.done():
            return clauses
        if scan.match(_AND) is None:
            raise scan.fail("clauses are joined with AND (OR is not supported)")


def _checked(scan: _Scanner, entity: str, key: str, op: str, value: object,
             attributes: dict[str, str], aliases: dict[str, str]) -> Clause:
    kind = "number" if entity == "metric" else "string"
    if entity == "attribute":
        key = aliases.get(key, key)
        if key not in attributes:
            raise scan.fail(f"unknown attribute {key!r}; one of {', '.join(sorted(attributes))}")
        kind = attributes[key]
    if op in _NULL_OPS:
        if entity not in ("tag", "param"):
            raise scan.fail(f"{op.replace('_', ' ')} works on tags and params only")
        return Clause(entity, key, op, None)
    if kind == "number":
        if op not in _NUMERIC_OPS or not isinstance(value, float):
            raise scan.fail(f"{entity} {key!r} is numeric: compare it to a number with "
                            f"{', '.join(_NUMERIC_OPS)}")
        return Clause(entity, key, op, value)
    if op not in _STRING_OPS:
        raise scan.fail(f"{entity} {key!r} is a string: use {', '.join(_STRING_OPS)}")
    if op in ("IN", "NOT_IN") and not isinstance(value, list):
        raise scan.fail(f"{op.replace('_', ' ')} needs a parenthesised list")
    if op not in ("IN", "NOT_IN") and not isinstance(value, str):
        raise scan.fail(f"{entity} {key!r} is a string: quote the value")
    return Clause(entity, key, op, value)  # type: ignore[arg-type]


def parse_order_by(terms: Iterable[str] | None, attributes: dict[str, str],
                   aliases: dict[str, str] | None = None) -> list[OrderKey]:
    """Parse ``["metrics.acc DESC", "start_time"]``-style terms."""
    aliases = aliases or {}
    keys: list[OrderKey] = []
    for term in terms or []:
        if not term or not term.strip():
            continue
        scan = _Scanner(term, "order_by")
        prefix, key = scan.identifier()
        entity = prefix or "attribute"
        if entity == "attribute":
            key = aliases.get(key, key)
            if key not in attributes:
                raise scan.fail(f"unknown attribute {key!r}")
        direction = scan.match(re.compile(r"(?i:asc|desc)\b"))
        if not scan.done():
            raise scan.fail("expected ASC or DESC at the end")
        keys.append(OrderKey(entity, key, ascending=(direction or "asc").lower() == "asc"))
    return keys
