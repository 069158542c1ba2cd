"""Token ids ⇄ bytes for a Hugging Face tokenizer (``tokenizer.json``), shared by the transformers
runtimes.

A tokenizer's vocabulary holds *token strings*, not bytes: byte-level BPE (GPT-2, Llama 3,
SmolLM, Qwen) writes each byte as a printable character (``Ġ`` for a space), SentencePiece-style
vocabularies (Llama 2, Mistral) write a space as ``▁`` and a lone byte as ``<0x0A>``. The API
layer reassembles UTF-8 from the bytes of each generated token, so a character split over two
tokens comes out whole; ``tokenizer.decode([id])`` would give ``�`` for each half.
"""

from __future__ import annotations

import json
import re
from typing import Any

_BYTE_TOKEN = re.compile(r"^<0x([0-9A-Fa-f]{2})>$")


def _byte_level_alphabet() -> dict[str, int]:
    """GPT-2's printable stand-in for each byte (``bytes_to_unicode``), inverted."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    chars = printable[:]
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + extra)
            extra += 1
    return {chr(c): b for b, c in zip(printable, chars)}


class TokenBytes:
    """``token_bytes(id)`` for one tokenizer, cached."""

    def __init__(self, tokenizer: Any) -> None:
        self._tok = tokenizer
        decoder = json.loads(tokenizer.backend_tokenizer.to_str()).get("decoder") or {}
        self._byte_level = "ByteLevel" in json.dumps(decoder)
        self._alphabet = _byte_level_alphabet()
        self._special = set(int(i) for i in tokenizer.all_special_ids)
        self._added: dict[int, str] = {int(i): t.content for i, t in
                                       tokenizer.added_tokens_decoder.items()}
        self._cache: dict[int, bytes] = {}

    def __call__(self, token: int) -> bytes:
        piece = self._cache.get(token)
        if piece is None:
            piece = self._compute(token)
            self._cache[token] = piece
        return piece

    def _compute(self, token: int) -> bytes:
        if token in self._special:
            return b""
        if token in self._added:      # added tokens are stored as plain text
            return self._added[token].encode("utf-8")
        text = self._tok.convert_ids_to_tokens(token)
        if text is None:
            return b""
        if self._byte_level:
            alphabet = self._alphabet
            if all(c in alphabet for c in text):
                return bytes(alphabet[c] for c in text)
            return text.encode("utf-8")
        match = _BYTE_TOKEN.match(text)
        if match:
            return bytes([int(match.group(1), 16)])
        if text.startswith("##"):     # WordPiece continuation
            return text[2:].encode("utf-8")
        return text.replace("▁", " ").encode("utf-8")
