"""Walking a loaded spec mapping with errors that name file, line and key (private helpers)."""

from __future__ import annotations

import datetime
import difflib
import math
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from ruamel.yaml.comments import CommentedMap

from ember.errors import InvalidInputError, SpecError
from ember.specs.overrides import apply_overrides
from ember.specs.references import is_uri, local_path_of
from ember.specs.yamlio import load_yaml, type_name

# Azure asset names and versions: start with a letter or digit; letters, digits, '-', '_', '.'.
ASSET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,254}$")


_PLAIN_BUDGET = 1_000_000


def plain(value: Any) -> Any:
    """A copy of a loaded YAML value made of plain dict/list/str/int/float/bool/None.

    Raises InvalidInputError past a million nodes: YAML aliases can make a small file expand
    exponentially ("billion laughs").
    """
    return _plain(value, [_PLAIN_BUDGET])


def _plain(value: Any, budget: list[int]) -> Any:
    budget[0] -= 1
    if budget[0] < 0:
        raise InvalidInputError("YAML value too large once its aliases are expanded")
    if isinstance(value, Mapping):
        return {_plain(k, budget): _plain(v, budget) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, budget) for v in value]
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, (str, datetime.date)):
        return str(value)
    return str(getattr(value, "value", value))   # TaggedScalar and friends


def line_of(node: Any, key: Any) -> int | None:
    """1-based line of ``key`` in a ruamel mapping (or index in a list); None when unknown."""
    lc = getattr(node, "lc", None)
    if lc is None:
        return None
    try:
        pos = lc.item(key) if isinstance(node, list) else lc.key(key)
    except (KeyError, IndexError, TypeError, AttributeError):
        return None
    return pos[0] + 1 if pos else None


@dataclass
class Ctx:
    """Where a spec came from: errors name ``source``; local paths resolve under ``base_dir``."""

    source: str
    base_dir: Path
    overridden: Mapping[str, str] = field(default_factory=dict)

    def error(self, message: str, *, path: str, line: int | None,
              hint: str | None = None) -> SpecError:
        override = self.override_for(path)
        if override:
            hint = f"{hint}; set by --set {override}" if hint else f"set by --set {override}"
        return SpecError(message, file=self.source, line=line, key=path or None, hint=hint)

    def override_for(self, path: str) -> str | None:
        """The ``--set`` text that set ``path``, something under it, or a key above it."""
        if not path:
            return None
        for dotted, text in self.overridden.items():
            if dotted == path or dotted.startswith(path + ".") or path.startswith(dotted + "."):
                return text
        return None


def load_spec(path: Path, overrides: list[str] | None) -> tuple[CommentedMap, Ctx]:
    """Load a spec file and apply ``--set`` overrides; return the data and its context."""
    path = Path(path)
    data = load_yaml(path)
    record: dict[str, str] = {}
    apply_overrides(data, list(overrides or []), str(path), record=record)
    return data, Ctx(str(path), path.resolve().parent, record)


class Section:
    """One mapping of a spec, at dotted ``path``, with typed getters that raise SpecError."""

    def __init__(self, ctx: Ctx, data: Any, path: str = "", line: int | None = None) -> None:
        self.ctx = ctx
        self.path = path
        self.line_hint = line if line is not None else _own_line(data)
        if not isinstance(data, Mapping):
            what = f"'{path}'" if path else "the spec"
            raise ctx.error(f"{what} must be a mapping, not {type_name(data)}", path=path,
                            line=self.line_hint)
        self.data: Mapping[Any, Any] = data

    def key_path(self, key: Any) -> str:
        return f"{self.path}.{key}" if self.path else str(key)

    def line(self, key: Any) -> int | None:
        return line_of(self.data, key) or self.line_hint

    def fail(self, key: Any, message: str, hint: str | None = None) -> NoReturn:
        """Raise a SpecError about ``key`` of this mapping (None: the mapping itself)."""
        if key is None:
            raise self.ctx.error(f"{self.path or 'spec'}: {message}", path=self.path,
                                 line=self.line_hint, hint=hint)
        path = self.key_path(key)
        raise self.ctx.error(f"{path}: {message}", path=path, line=self.line(key), hint=hint)

    def check_keys(self, known: Collection[str]) -> None:
        """Reject the first key not in ``known`` with a did-you-mean hint."""
        for key in self.data:
            if isinstance(key, str) and key in known:
                continue
            close = difflib.get_close_matches(str(key), list(known), n=1)
            hint = (f"did you mean '{close[0]}'?" if close
                    else f"expected one of: {', '.join(sorted(known))}")
            path = self.key_path(key)
            raise self.ctx.error(f"unknown key '{path}'", path=path, line=self.line(key),
                                 hint=hint)

    def get(self, key: str) -> Any:
        return self.data.get(key)

    def has(self, key: str) -> bool:
        return self.data.get(key) is not None

    def get_str(self, key: str, *, required: bool = False, nonempty: bool = True) -> str | None:
        value = self.data.get(key)
        if value is None:
            if required:
                self.fail(key, "is required")
            return None
        if not isinstance(value, str):
            self.fail(key, f"must be a string, not {type_name(value)}")
        if nonempty and not value.strip():
            self.fail(key, "must not be empty")
        return str(value)

    def get_bool(self, key: str, default: bool) -> bool:
        value = self.data.get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.fail(key, f"must be true or false, not {type_name(value)}")
        return bool(value)

    def get_number(self, key: str, *, positive: bool = False) -> float | None:
        value = self.data.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not math.isfinite(value) or (positive and value <= 0):
            want = "a positive number" if positive else "a number"
            self.fail(key, f"must be {want}, not {_show(value)}")
        return float(value)

    def get_int(self, key: str, *, minimum: int | None = None) -> int | None:
        value = self.data.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) \
                or (minimum is not None and value < minimum):
            want = f"an integer >= {minimum}" if minimum is not None else "an integer"
            self.fail(key, f"must be {want}, not {_show(value)}")
        return int(value)

    def get_choice(self, key: str, choices: Collection[str], default: str | None = None,
                   *, required: bool = False) -> str | None:
        value = self.get_str(key, required=required)
        if value is None:
            return default
        if value not in choices:
            close = difflib.get_close_matches(value, list(choices), n=1)
            self.fail(key, f"'{value}' is not one of: {', '.join(choices)}",
                      hint=f"did you mean '{close[0]}'?" if close else None)
        return value

    def get_str_map(self, key: str) -> dict[str, str]:
        """A mapping of names to scalars (tags, environment variables), values as strings."""
        sub = self.section(key)
        if sub is None:
            return {}
        out: dict[str, str] = {}
        for name, value in sub.data.items():
            if not isinstance(name, str) or not name:
                sub.fail(name, f"keys must be non-empty strings, not {type_name(name)}")
            if value is None:
                out[name] = ""
            elif isinstance(value, (str, int, float, bool, datetime.date)):
                out[name] = str(value)
            else:
                sub.fail(name, f"must be a scalar value, not {type_name(value)}")
        return out

    def section(self, key: str, *, required: bool = False) -> Section | None:
        """The mapping under ``key``; None when absent or null (unless ``required``)."""
        value = self.data.get(key)
        if value is None:
            if required:
                self.fail(key, "is required")
            return None
        if not isinstance(value, Mapping):
            self.fail(key, f"must be a mapping, not {type_name(value)}")
        return Section(self.ctx, value, self.key_path(key), self.line(key))

    def local_path(self, key: str, value: str, *, kind: str | None = None) -> str:
        """Resolve a local path relative to the spec's folder into an absolute string.

        ``kind`` "file"/"dir" requires that it exists as such; "any" that it exists.
        """
        try:
            target = Path(local_path_of(value)).expanduser()
            if not target.is_absolute():
                target = self.ctx.base_dir / target
            target = target.resolve()
            exists, is_dir = target.exists(), target.is_dir()
        except (OSError, ValueError, RuntimeError) as exc:
            self.fail(key, f"invalid path {value!r}: {exc}")
        if kind is not None and not exists:
            self.fail(key, f"path not found: {target}")
        if kind == "dir" and not is_dir:
            self.fail(key, f"must be a folder: {target}")
        if kind == "file" and is_dir:
            self.fail(key, f"must be a file, not a folder: {target}")
        return str(target)

    def path_or_uri(self, key: str, *, kind: str | None) -> str | None:
        """A local path (resolved, checked with ``kind``) or a URI / ``azureml:`` ref as given."""
        value = self.get_str(key)
        if value is None or value.startswith("azureml:") or is_uri(value):
            return value
        return self.local_path(key, value, kind=kind)


def asset_name(sec: Section, *, required: bool) -> str:
    """The ``name`` of an asset spec, checked against Azure's naming rule."""
    name = sec.get_str("name", required=required) or ""
    if name and not ASSET_NAME.match(name):
        sec.fail("name", f"'{name}' is not a valid name: start with a letter or digit, then "
                         "letters, digits, '-', '_', '.'")
    return name


def asset_version(sec: Section) -> str:
    """``version`` as a string ("" when absent); an integer or a string, never a float."""
    value = sec.get("version")
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        sec.fail("version", f"must be an integer or a string, not {type_name(value)}",
                 hint="quote it, e.g. version: \"1.10\"")
    text = str(plain(value)).strip()
    if not text or not ASSET_NAME.match(text):
        sec.fail("version", f"'{text}' is not a valid version")
    return text


def _own_line(node: Any) -> int | None:
    lc = getattr(node, "lc", None)
    line = getattr(lc, "line", None)
    return line + 1 if isinstance(line, int) else None


def _show(value: Any) -> str:
    return repr(plain(value)) if isinstance(value, (str, int, float)) else type_name(value)
