"""A small reader of GGUF headers (llama.cpp's model file format), standard library only.

Layout (https://github.com/ggml-org/ggml/blob/master/docs/gguf.md): ``"GGUF"``, a uint32
version, the tensor count and the key/value count (uint64; uint32 in version 1), the key/value
pairs (a string key, a uint32 value type, the value), then one record per tensor (name, number
of dimensions, the dimensions, type, offset). Strings are a length (uint64; uint32 in version 1)
and UTF-8 bytes. Little-endian, unless the file was written big-endian (then the version reads
byte-swapped, which is how it is recognised).

The file is memory-mapped and only the header is touched, so reading the metadata of a 100 MB
model costs a few milliseconds; array values (the tokenizer's vocabulary) are skipped, not
decoded, except for their length.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ember.errors import InvalidInputError

MAGIC = b"GGUF"
MAX_ARRAY_DEPTH = 8

# value type → struct format of a scalar (8: string and 9: array are read apart)
_SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q",
            12: "d"}
_STRING, _ARRAY = 8, 9

# llama.cpp's ``llama_ftype`` (general.file_type): the weights' quantisation. The float types
# (0 F32, 1 F16, 32 BF16) are not quantisations.
FILE_TYPES = {
    2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 10: "Q2_K", 11: "Q3_K_S",
    12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S", 17: "Q5_K_M",
    18: "Q6_K", 19: "IQ2_XXS", 20: "IQ2_XS", 21: "Q2_K_S", 22: "IQ3_XS", 23: "IQ3_XXS",
    24: "IQ1_S", 25: "IQ4_NL", 26: "IQ3_S", 27: "IQ3_M", 28: "IQ2_S", 29: "IQ2_M",
    30: "IQ4_XS", 31: "IQ1_M", 36: "TQ1_0", 37: "TQ2_0", 38: "MXFP4_MOE",
}
FLOAT_FILE_TYPES = {0: "F32", 1: "F16", 32: "BF16"}


@dataclass
class GgufHeader:
    version: int
    tensor_count: int
    metadata: dict[str, Any] = field(default_factory=dict)   # arrays: their length only
    array_keys: set[str] = field(default_factory=set)        # keys whose value is an array
    parameters: int | None = None   # elements of every tensor; None when not all readable


class _Truncated(Exception):
    """The file ended inside the header."""


class _Reader:
    def __init__(self, buf: mmap.mmap | bytes, endian: str, wide: bool) -> None:
        self.buf, self.pos, self.endian = buf, 0, endian
        self.count_fmt = "Q" if wide else "I"

    def unpack(self, fmt: str) -> Any:
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.buf):
            raise _Truncated
        (value,) = struct.unpack_from(self.endian + fmt, self.buf, self.pos)
        self.pos += size
        return value

    def count(self) -> int:
        return int(self.unpack(self.count_fmt))

    def raw_string(self) -> bytes:
        n = self.count()
        if self.pos + n > len(self.buf):
            raise _Truncated
        data = bytes(self.buf[self.pos:self.pos + n])
        self.pos += n
        return data

    def skip(self, n: int) -> None:
        if n < 0 or self.pos + n > len(self.buf):
            raise _Truncated
        self.pos += n

    def value(self, vtype: int, depth: int = 0) -> Any:
        if vtype in _SCALARS:
            return self.unpack(_SCALARS[vtype])
        if vtype == _STRING:
            return self.raw_string().decode("utf-8", errors="replace")
        if vtype == _ARRAY and depth < MAX_ARRAY_DEPTH:
            item_type, n = self.unpack("I"), self.count()
            if item_type in _SCALARS:
                self.skip(n * struct.calcsize(_SCALARS[item_type]))
            elif item_type == _STRING:
                for _ in range(n):
                    self.skip(self.count())
            else:
                for _ in range(n):
                    self.value(item_type, depth + 1)
            return n
        raise ValueError(f"unknown value type {vtype} at byte {self.pos}")


def read_gguf_header(path: Path) -> GgufHeader:
    """The header of the GGUF file ``path``. Raises InvalidInputError naming the file when it
    is not GGUF (bad magic), or its header is truncated or malformed."""
    try:
        with path.open("rb") as fh:
            if path.stat().st_size < 4:
                raise InvalidInputError(f"{path}: not a GGUF file: it is only "
                                        f"{path.stat().st_size} bytes long")
            with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as buf:
                return _parse(buf, path)
    except OSError as exc:
        raise InvalidInputError(f"{path}: cannot read the GGUF file: "
                                f"{exc.strerror or exc}") from exc


def _parse(buf: mmap.mmap, path: Path) -> GgufHeader:
    if buf[:4] != MAGIC:
        raise InvalidInputError(f"{path}: not a GGUF file: it starts with {bytes(buf[:4])!r}, "
                                f"not {MAGIC!r}")
    if len(buf) < 8:
        raise InvalidInputError(f"{path}: truncated GGUF header (no version)")
    endian = "<"
    version = struct.unpack_from("<I", buf, 4)[0]
    if version & 0xFFFF == 0 and version != 0:   # written big-endian
        endian, version = ">", struct.unpack_from(">I", buf, 4)[0]
    if version not in (1, 2, 3):
        raise InvalidInputError(f"{path}: GGUF version {version} is not one Ember reads "
                                "(versions 1 to 3)")
    r = _Reader(buf, endian, wide=version >= 2)
    r.pos = 8
    key = ""
    try:
        header = GgufHeader(version=version, tensor_count=r.count())
        kv_count = r.count()
        for _ in range(kv_count):
            at = r.pos
            raw = r.raw_string()
            try:
                key = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise InvalidInputError(f"{path}: malformed GGUF header: the key at byte {at} "
                                        f"is not UTF-8 ({raw[:40]!r})") from None
            vtype = r.unpack("I")
            header.metadata[key] = r.value(vtype)
            if vtype == _ARRAY:
                header.array_keys.add(key)
        key = ""
        header.parameters = _tensor_elements(r, header.tensor_count)
    except _Truncated:
        where = f" in the value of {key!r}" if key else ""
        raise InvalidInputError(f"{path}: truncated GGUF header{where} (the file ends at byte "
                                f"{len(buf)})") from None
    except ValueError as exc:
        raise InvalidInputError(f"{path}: malformed GGUF header{' at ' + repr(key) if key else ''}"
                                f": {exc}") from None
    return header


def _tensor_elements(r: _Reader, tensor_count: int) -> int | None:
    """The sum of every tensor's element count, or None when the tensor records end early
    (the metadata is what matters; a parameter count is a nicety)."""
    total = 0
    try:
        for _ in range(tensor_count):
            r.skip(r.count())                    # name
            n_dims = r.unpack("I")
            if n_dims > 8:
                return None
            elements = 1
            for _ in range(n_dims):
                elements *= r.count()   # uint32 in version 1
            r.skip(4 + 8)                        # type, offset
            total += elements
    except _Truncated:
        return None
    return total
