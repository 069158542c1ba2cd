"""MLflow's search syntax: filters and order_by terms."""

from __future__ import annotations

import pytest

from ember.errors import InvalidInputError
from ember.entities.tracking import Clause, OrderKey
from ember.tracking.search import (
    RUN_ATTRIBUTE_ALIASES,
    RUN_ATTRIBUTES,
    parse_filter,
    parse_order_by,
)


def runs(text: str) -> list[Clause]:
    return parse_filter(text, RUN_ATTRIBUTES, RUN_ATTRIBUTE_ALIASES)


def test_the_documented_forms() -> None:
    assert runs("metrics.acc > 0.5 and params.lr = '0.1' and tags.x = 'y' "
                "and attributes.status = 'FINISHED'") == [
        Clause("metric", "acc", ">", 0.5), Clause("param", "lr", "=", "0.1"),
        Clause("tag", "x", "=", "y"), Clause("attribute", "status", "=", "FINISHED")]


def test_quoting_prefixes_and_operators() -> None:
    assert runs('tags.`my tag` LIKE "a%" AND metric.`val/acc`<=1e-3') == [
        Clause("tag", "my tag", "LIKE", "a%"), Clause("metric", "val/acc", "<=", 0.001)]
    assert runs('params."it\'s" != \'it\'\'s\'') == [Clause("param", "it's", "!=", "it's")]
    assert runs("run_id IN ('a', 'b') and created > 5 and tags.t IS NOT NULL") == [
        Clause("attribute", "run_id", "IN", ["a", "b"]),
        Clause("attribute", "start_time", ">", 5.0), Clause("tag", "t", "IS_NOT_NULL", None)]
    assert runs("metrics.loss>=-2 and status not in ('FAILED')") == [
        Clause("metric", "loss", ">=", -2.0), Clause("attribute", "status", "NOT_IN", ["FAILED"])]
    assert runs("  ") == []


@pytest.mark.parametrize("text, fragment", [
    ("metrics.acc > 'high'", "numeric"),
    ("params.lr > 0.1", "string"),
    ("bogus = 'x'", "unknown attribute"),
    ("metrics.acc > 0.5 or metrics.acc < 0.1", "AND"),
    ("tags.x = 'unterminated", "unterminated"),
    ("tags.x IN 'a'", "parenthesised"),
    ("metrics.acc", "comparison"),
])
def test_bad_filters_say_why(text: str, fragment: str) -> None:
    with pytest.raises(InvalidInputError, match=fragment):
        runs(text)


def test_order_by_terms() -> None:
    assert parse_order_by(["metrics.acc DESC", "start_time", "tags.`a b` asc"],
                          RUN_ATTRIBUTES) == [
        OrderKey("metric", "acc", False), OrderKey("attribute", "start_time", True),
        OrderKey("tag", "a b", True)]
    with pytest.raises(InvalidInputError):
        parse_order_by(["metrics.acc sideways"], RUN_ATTRIBUTES)
