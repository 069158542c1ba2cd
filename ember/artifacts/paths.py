"""User-supplied artifact paths, checked without the artifact store (and fsspec) loaded: the
SDK checks the paths it downloads to and the URIs it is given with these."""

from __future__ import annotations

from ember.errors import InvalidInputError

__all__ = ["safe_relpath"]


def safe_relpath(path: str, *, allow_empty: bool = True) -> str:
    """Normalise a user-supplied relative path, refusing anything that escapes the root."""
    if path is None:
        path = ""
    if "\x00" in path or "\\" in path:
        raise InvalidInputError(f"artifact path {path!r} contains a NUL or backslash")
    if "\ufffd" in path:
        # What an invalid percent-encoded byte (%ff) decodes to: two different invalid names
        # would land on the same file, so neither is accepted.
        raise InvalidInputError(f"artifact path {path!r} is not valid UTF-8 (an invalid "
                                "percent-encoded byte, or U+FFFD in the name)")
    if path.startswith("/"):
        raise InvalidInputError(f"artifact path {path!r} must be relative, not absolute")
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise InvalidInputError(f"artifact path {path!r} escapes its root ('..' is not allowed)")
    clean = "/".join(parts)
    if not clean and not allow_empty:
        raise InvalidInputError("artifact path is empty")
    return clean
