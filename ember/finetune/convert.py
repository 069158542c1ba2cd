"""Turn a GGUF language model into a Hugging Face folder that LoRA can train, once per file.

llama.cpp's GGUF files hold quantised weights that torch cannot train. transformers can read them
and de-quantise to float32, which takes ~20 s and ~1 GB for SmolLM2-135M, so the result is kept:
``<cache_root>/<stem>-<hash>/`` with safetensors float32 weights, ``config.json``,
``generation_config.json`` and the tokenizer with its chat template. The hash covers the file's
path, size and modification time, so a replaced file gets a fresh copy.

Two jobs may start on the same base model at once: an exclusive ``fcntl`` lock per copy makes the
second wait for the first and then reuse its result, and the copy is written into a temporary
folder renamed into place, so a reader never sees half a folder (a crash leaves only a
``.tmp-*`` folder behind).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from ember.errors import InvalidInputError
from ember.finetune._deps import require

MARKER = "ember-trainable-copy.json"


def home_cache(home: Path) -> Path:
    """The cache under an Ember home: shared by fine-tuning jobs and by deployments that serve
    a GGUF model with transformers, so each file is converted once for both."""
    return Path(home) / "finetune" / "trainable"


def copy_dir_for(gguf_path: Path, cache_root: Path) -> Path:
    """Where the trainable copy of ``gguf_path`` lives (whether or not it exists yet)."""
    resolved = Path(gguf_path).resolve()
    stat = resolved.stat()
    key = f"{resolved}\0{stat.st_size}\0{stat.st_mtime_ns}".encode()
    return Path(cache_root) / f"{resolved.stem}-{hashlib.sha256(key).hexdigest()[:12]}"


def trainable_copy(gguf_path: Path, cache_root: Path,
                   progress: Callable[[str], None] = print) -> Path:
    """The Hugging Face folder converted from ``gguf_path``, converting it on the first call."""
    gguf_path = Path(gguf_path)
    if not gguf_path.is_file():
        raise InvalidInputError(f"base model {gguf_path} does not exist")
    target = copy_dir_for(gguf_path, cache_root)
    if (target / MARKER).is_file():
        return target
    Path(cache_root).mkdir(parents=True, exist_ok=True)
    with _locked(target.with_name(target.name + ".lock")):
        if (target / MARKER).is_file():     # converted by another process while we waited
            return target
        progress(f"converting {gguf_path.name} to a trainable copy…")
        started = time.monotonic()
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=cache_root))
        try:
            _convert(gguf_path, tmp)
            seconds = time.monotonic() - started
            (tmp / MARKER).write_text(json.dumps(
                {"source": str(gguf_path.resolve()), "seconds": round(seconds, 1)}, indent=2))
            if target.exists():             # a copy without its marker: an older, broken write
                shutil.rmtree(target)
            os.rename(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        progress(f"done in {seconds:.0f} s")
    return target


@contextlib.contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    with open(lock_path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _convert(gguf_path: Path, out: Path) -> None:
    torch = require("torch")
    transformers = require("transformers")
    require("gguf")          # transformers reads GGUF files through it
    folder, name = str(gguf_path.parent), gguf_path.name
    hf_logging = transformers.utils.logging
    bars_were_on = hf_logging.is_progress_bar_enabled()
    # The job's log gets our two lines, not progress bars: transformers' own bars are switched
    # off, and the GGUF de-quantiser's plain tqdm bar (stderr) is swallowed.
    hf_logging.disable_progress_bar()
    try:
        kwargs = {}
        gguf_config = getattr(transformers, "GgufConfig", None)
        if gguf_config is not None:
            # Without it transformers ≥ 5.2x keeps the model tagged as GGUF-quantised, and such a
            # model refuses save_pretrained; dequantize=True gives a plain float32 model.
            kwargs["quantization_config"] = gguf_config(dequantize=True)
        try:
            tokenizer = transformers.AutoTokenizer.from_pretrained(folder, gguf_file=name)
            with contextlib.redirect_stderr(io.StringIO()):
                model = transformers.AutoModelForCausalLM.from_pretrained(
                    folder, gguf_file=name, dtype=torch.float32, **kwargs)
        except (ValueError, KeyError, OSError) as exc:
            raise InvalidInputError(
                f"cannot read {gguf_path.name} as a language model: {exc}") from exc
        model.save_pretrained(out)
        tokenizer.save_pretrained(out)
    finally:
        if bars_were_on:
            hf_logging.enable_progress_bar()
