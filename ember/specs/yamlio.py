"""Read YAML with ruamel.yaml round-trip so every mapping keeps its line numbers (``.lc``).

Every failure becomes a :class:`~ember.errors.SpecError` that names the file and, where the
parser knows it, the 1-based line: a syntax error, a tab used for indentation, a duplicate key,
bytes that are not UTF-8, an empty file, a missing file.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from ember.errors import SpecError

_DUPLICATE = re.compile(r'found duplicate key "(?P<key>.*?)" with value')


def _parser() -> YAML:
    # A fresh instance per document: ruamel's YAML objects keep parser state and are not
    # safe to share between threads (the server loads specs concurrently).
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    return yaml


def load_yaml_text(text: str, source: str) -> Any:
    """Parse one YAML document; return what it holds (None for an empty document).

    ``source`` names the document in errors (a file path, ``<override>``...).
    Raises SpecError for malformed YAML, duplicate keys and nesting too deep to parse.
    """
    try:
        return _parser().load(text)
    except DuplicateKeyError as exc:
        found = _DUPLICATE.search(str(exc.problem or ""))
        key = found["key"] if found else None
        line = exc.problem_mark.line + 1 if exc.problem_mark is not None else None
        raise SpecError(f"duplicate key '{key}'", file=source, line=line, key=key,
                        hint="each key may appear once per mapping") from None
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or "malformed YAML"
        hint = None
        if "\t" in problem or "'\\t'" in problem:
            hint = "YAML does not allow tabs for indentation; use spaces"
        raise SpecError(f"YAML syntax error: {problem}", file=source, line=line,
                        hint=hint) from None
    except YAMLError as exc:
        # ReaderError (a control character) carries a character offset, not a line.
        position = getattr(exc, "position", None)
        line = text.count("\n", 0, position) + 1 if isinstance(position, int) else None
        first = str(exc).splitlines()[0] if str(exc) else "malformed YAML"
        raise SpecError(f"YAML syntax error: {first}", file=source, line=line) from None
    except RecursionError:
        raise SpecError("YAML nesting is too deep to read", file=source) from None


def load_yaml(path: Path) -> CommentedMap:
    """Read a YAML file whose top level must be a mapping.

    Raises SpecError naming the file when it is missing, unreadable, not UTF-8, empty, not a
    mapping at the top level, or malformed (then with the line).
    """
    path = Path(path)
    source = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise SpecError("file not found", file=source) from None
    except IsADirectoryError:
        raise SpecError("is a directory, expected a YAML file", file=source) from None
    except (OSError, ValueError) as exc:
        raise SpecError(f"cannot read file: {exc}", file=source) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise SpecError(f"file is not valid UTF-8 (byte 0x{raw[exc.start]:02x} at offset "
                        f"{exc.start})", file=source, line=line,
                        hint="save the file as UTF-8") from None
    data = load_yaml_text(text, source)
    if data is None:
        raise SpecError("file is empty; expected a YAML mapping", file=source)
    if not isinstance(data, CommentedMap):
        raise SpecError(f"top level must be a mapping of keys to values, not {type_name(data)}",
                        file=source, line=1)
    return data


def type_name(value: Any) -> str:
    """A user-facing name for the YAML type of ``value`` (used in error messages)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"a {type(value).__name__} value"
