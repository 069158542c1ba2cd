"""The llama.cpp runtime: GGUF files on CPU (or a GPU build), through llama-cpp-python's
low-level API so that concurrent requests decode together.

One context holds a KV cache shared by up to ``max_sequences`` sequences (``kv_unified``). One
thread runs the loop: each step builds one batch with the next token of every sequence that is
generating plus a slice of the prompt of each one that is starting, calls ``llama_decode`` once,
and samples each sequence's next token with its own sampler chain (grammar for JSON mode,
penalties, top-k/top-p/min-p, temperature, and a seeded draw: a request with a ``seed`` gets
the same text every time). When the cache has no room for a step, the youngest sequence is set
back: its cells are freed and it re-reads its prompt plus what it generated, later, with its
sampler state kept.

Numerics: llama.cpp's kernels sum in a different order for different batch shapes, so a
greedy answer computed beside other requests can differ from the same answer computed alone
where two tokens are nearly tied (as in every batching server).

Prefix cache: a finished sequence keeps its cells (``_retained``) until its id or its room is
needed. A new request starts from the longest prefix it shares with any sequence in the cache
(``llama_memory_seq_cp`` shares those cells; nothing is recomputed), so a chat template's system
prompt, or a conversation's earlier turns, are read once.
"""

from __future__ import annotations

import ctypes
import logging
import math
import random
import threading
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ember.serving.llm.runtime import (
    FINISH_CANCELLED,
    FINISH_ERROR,
    FINISH_LENGTH,
    FINISH_STOP,
    Event,
    GenRequest,
    Runtime,
    RuntimeMissing,
    TopLogprob,
)

log = logging.getLogger("ember.serving.llm")
PREFILL_BUDGET = 512      # prompt tokens read per step (keeps generating streams moving)
PENALTY_WINDOW = 256      # last tokens the presence/frequency penalties look at
MIN_SHARED_PREFIX = 4     # shorter common prefixes are read again (not worth a copy)


def _import_llama_cpp() -> Any:
    try:
        import llama_cpp
    except ImportError as exc:
        raise RuntimeMissing("the llama.cpp runtime needs llama-cpp-python: pip install "
                             "'ember-ml[llm]'") from exc
    return llama_cpp


@dataclass
class _Seq:
    req: GenRequest
    seq_id: int
    todo: list[int]                 # tokens still to read into the cache (prompt, or replay)
    pos: int = 0                    # cells this sequence holds
    generated: int = 0
    history: list[int] = field(default_factory=list)   # prompt + generated tokens
    sampler: Any = None
    out_index: int = -1             # its row of logits in the last batch, or -1


class LlamaCppRuntime(Runtime):
    name = "llama.cpp"

    def __init__(self, path: Path, *, threads: int = 1, max_sequences: int = 16,
                 context_length: int | None = None, kv_tokens: int | None = None) -> None:
        L = self._L = _import_llama_cpp()
        _quiet(L)
        L.llama_backend_init()
        mparams = L.llama_model_default_params()
        self._model = L.llama_model_load_from_file(str(path).encode(), mparams)
        if not self._model:
            raise ValueError(f"llama.cpp could not load {path}")
        self._vocab = L.llama_model_get_vocab(self._model)
        trained = int(L.llama_model_n_ctx_train(self._model))
        self.context_length = min(context_length or trained, trained)
        self.max_sequences = max(1, max_sequences)
        cparams = L.llama_context_default_params()
        cparams.n_ctx = max(kv_tokens or self.context_length, self.context_length)
        cparams.n_batch = cparams.n_ubatch = PREFILL_BUDGET + self.max_sequences
        cparams.n_seq_max = self.max_sequences
        cparams.n_threads = cparams.n_threads_batch = max(1, threads)
        cparams.kv_unified = True
        # Flash attention: measured here, 16 sequences decode ~10 % faster with it on CPU
        # (llama.cpp's "auto" leaves it off there).
        cparams.flash_attn_type = L.LLAMA_FLASH_ATTN_TYPE_ENABLED
        cparams.no_perf = True
        self._ctx = L.llama_init_from_model(self._model, cparams)
        if not self._ctx:
            raise ValueError(f"llama.cpp could not make a context for {path} "
                             f"({cparams.n_ctx} cells)")
        self._cells = int(L.llama_n_ctx(self._ctx))
        self._mem = L.llama_get_memory(self._ctx)
        self._n_vocab = int(L.llama_vocab_n_tokens(self._vocab))
        self._batch_cap = int(L.llama_n_batch(self._ctx))   # llama.cpp caps it at n_ctx
        self._prefill_budget = max(1, min(PREFILL_BUDGET, self._batch_cap - self.max_sequences))
        self._batch = L.llama_batch_init(self._batch_cap, 0, 1)
        template = L.llama_model_chat_template(self._model, None)
        self.chat_template = template.decode("utf-8", "replace") if template else None
        self.bos_token = self._special_text(L.llama_vocab_bos(self._vocab))
        self.eos_token = self._special_text(L.llama_vocab_eos(self._vocab))
        self._add_bos = bool(L.llama_vocab_get_add_bos(self._vocab))
        self._piece_cache: dict[int, bytes] = {}
        self._queue: deque[_Seq] = deque()
        self._free_ids = list(range(self.max_sequences - 1, -1, -1))
        self._active: list[_Seq] = []
        # finished sequences whose cells are kept for their prefix: seq id -> tokens in cache
        self._retained: OrderedDict[int, list[int]] = OrderedDict()
        # prompt tokens read into the cache, and those found there already (prefix cache)
        self.stats = {"prompt_tokens_read": 0, "prompt_tokens_cached": 0, "set_back": 0,
                      "peak_sequences": 0}
        self._wake = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="llama-cpp-decode", daemon=True)
        self._thread.start()

    # --- tokens ---------------------------------------------------------------------------

    def tokenize(self, text: str, *, add_special: bool) -> list[int]:
        L, raw = self._L, text.encode("utf-8")
        cap = len(raw) + 8
        buf = (L.llama_token * cap)()
        n = L.llama_tokenize(self._vocab, raw, len(raw), buf, cap, add_special and self._add_bos,
                             True)
        if n < 0:   # cannot happen with one slot per byte and room for BOS; be safe
            cap = -n
            buf = (L.llama_token * cap)()
            n = L.llama_tokenize(self._vocab, raw, len(raw), buf, cap,
                                 add_special and self._add_bos, True)
        return list(buf[:n])

    def token_bytes(self, token: int) -> bytes:
        piece = self._piece_cache.get(token)
        if piece is None:
            piece = self._piece(token, special=False)
            self._piece_cache[token] = piece
        return piece

    def _piece(self, token: int, *, special: bool) -> bytes:
        buf = ctypes.create_string_buffer(64)
        n = self._L.llama_token_to_piece(self._vocab, token, buf, 64, 0, special)
        if n < 0:
            buf = ctypes.create_string_buffer(-n)
            n = self._L.llama_token_to_piece(self._vocab, token, buf, -n, 0, special)
        return buf.raw[:n]

    def _special_text(self, token: int) -> str:
        return self._piece(token, special=True).decode("utf-8", "replace") if token >= 0 else ""

    # --- requests ---------------------------------------------------------------------------

    def submit(self, request: GenRequest) -> None:
        seq = _Seq(req=request, seq_id=-1, todo=list(request.prompt),
                   history=list(request.prompt))
        with self._wake:
            if self._closed:
                request.sink.put(Event(index=request.index, finish=FINISH_ERROR,
                                       error="the model server is stopping"))
                return
            self._queue.append(seq)
            self._wake.notify()

    def close(self) -> None:
        with self._wake:
            self._closed = True
            self._wake.notify()
        self._thread.join(timeout=10)

    # --- the decode loop --------------------------------------------------------------------

    def _loop(self) -> None:
        try:
            while True:
                with self._wake:
                    while not self._closed and not self._queue and not self._active:
                        self._wake.wait()
                    if self._closed:
                        break
                    self._admit()
                self._step()
        except Exception as exc:  # noqa: BLE001 - every waiting client must hear of it
            log.exception("llama.cpp decode loop failed")
            self._fail_all(f"{type(exc).__name__}: {exc}")
            raise
        self._fail_all("the model server is stopping")

    def _used(self) -> int:
        return sum(s.pos + len(s.todo) for s in self._active)

    def _admit(self) -> None:
        """Move queued requests into sequences while the cache has room for them."""
        while self._queue and (self._free_ids or self._retained):
            seq = self._queue[0]
            if seq.req.cancelled.is_set():
                self._queue.popleft()
                self._finish(seq, FINISH_CANCELLED)
                continue
            room = self._cells - self._used() - len(self._active)
            if len(seq.todo) + 1 > room and self._retained:
                self._drop_retained()
                room = self._cells - self._used() - len(self._active)
            if len(seq.todo) + 1 > room and self._active:
                break
            self._queue.popleft()
            self._place(seq)
            seq.sampler = seq.sampler or self._sampler(seq.req)
            self._active.append(seq)
            self.stats["peak_sequences"] = max(self.stats["peak_sequences"], len(self._active))

    def _place(self, seq: _Seq) -> None:
        """Give ``seq`` an id, starting from the longest prefix of its tokens in the cache."""
        L, mem, tokens = self._L, self._mem, seq.todo
        best_id, best = -1, 0
        cached = list(self._retained.items()) + [(a.seq_id, a.history[:a.pos])
                                                 for a in self._active]
        for sid, held in cached:
            n = _common_prefix(held, tokens)
            if n > best:
                best_id, best = sid, n
        best = min(best, len(tokens) - 1)    # the last prompt token is read for its logits
        # A seeded request reads its whole prompt: logits of a prompt read at once differ in
        # the last bits from those of a cached prefix plus a suffix, and a sampled token can
        # flip on that; read whole, the same request alone gives the same text every time.
        if best < MIN_SHARED_PREFIX or seq.req.sampling.seed is not None:
            best_id, best = -1, 0
        if best_id in self._retained:        # a finished sequence: continue from its cells
            del self._retained[best_id]
            L.llama_memory_seq_rm(mem, best_id, best, -1)
            seq.seq_id = best_id
        else:
            if self._free_ids:
                seq.seq_id = self._free_ids.pop()
            else:                            # take the least recently finished sequence
                seq.seq_id, _ = self._retained.popitem(last=False)
                L.llama_memory_seq_rm(mem, seq.seq_id, -1, -1)
            if best_id >= 0:                 # a running sequence: share its prefix's cells
                L.llama_memory_seq_cp(mem, best_id, seq.seq_id, 0, best)
        seq.pos, seq.todo = best, tokens[best:]
        self.stats["prompt_tokens_cached"] += best
        self.stats["prompt_tokens_read"] += len(seq.todo)

    def _drop_retained(self) -> None:
        for sid in self._retained:
            self._L.llama_memory_seq_rm(self._mem, sid, -1, -1)
            self._free_ids.append(sid)
        self._retained.clear()

    def _step(self) -> None:
        L, b = self._L, self._batch
        b.n_tokens = 0
        budget = self._batch_cap
        for seq in list(self._active):
            seq.out_index = -1
            if seq.req.cancelled.is_set():
                self._retire(seq, FINISH_CANCELLED)
                continue
            take = seq.todo[:max(0, min(len(seq.todo), budget,
                                        self._prefill_budget if len(seq.todo) > 1 else 1))]
            if not take:
                continue
            for j, tok in enumerate(take):
                i = b.n_tokens
                b.token[i] = tok
                b.pos[i] = seq.pos + j
                b.n_seq_id[i] = 1
                b.seq_id[i][0] = seq.seq_id
                last = j == len(take) - 1 and len(take) == len(seq.todo)
                b.logits[i] = 1 if last else 0
                if last:
                    seq.out_index = i
                b.n_tokens += 1
            budget -= len(take)
            seq.pos += len(take)
            del seq.todo[:len(take)]
        if b.n_tokens == 0:
            return
        rc = L.llama_decode(self._ctx, b)
        if rc == 1 and self._retained:
            self._rebuild_accounting()
            self._drop_retained()
            return
        if rc == 1 and len(self._active) > 1:
            self._set_back_youngest()
            return
        if rc != 0:
            for seq in list(self._active):
                self._retire(seq, FINISH_ERROR, f"llama_decode failed with status {rc}")
            return
        for seq in list(self._active):
            if seq.out_index >= 0:
                self._sample(seq)

    def _set_back_youngest(self) -> None:
        """The cache is full: free the newest sequence and queue it to re-read what it has.
        This step's batch was not applied (llama_decode leaves the cache as it was)."""
        victim = self._active[-1]
        self._rebuild_accounting()
        self._L.llama_memory_seq_rm(self._mem, victim.seq_id, -1, -1)
        self._active.remove(victim)
        self._free_ids.append(victim.seq_id)
        victim.seq_id, victim.pos, victim.todo = -1, 0, list(victim.history)
        with self._wake:
            self._queue.appendleft(victim)
        self.stats["set_back"] += 1
        log.info("KV cache full: a request was set back and will resume")

    def _rebuild_accounting(self) -> None:
        """After a failed decode the cache holds, for each sequence, what it held before the
        step: re-derive ``pos`` and ``todo`` from the cache's own positions."""
        for seq in self._active:
            held = int(self._L.llama_memory_seq_pos_max(self._mem, seq.seq_id)) + 1
            seq.pos = max(held, 0)
            seq.todo = seq.history[seq.pos:]

    def _sample(self, seq: _Seq) -> None:
        L, req = self._L, seq.req
        token = int(L.llama_sampler_sample(seq.sampler, self._ctx, seq.out_index))
        if L.llama_vocab_is_eog(self._vocab, token):
            self._retire(seq, FINISH_STOP)
            return
        event = Event(index=req.index, token=token, piece=self.token_bytes(token))
        if req.sampling.logprobs is not None:
            self._logprobs(seq.out_index, token, req.sampling.logprobs, event)
        seq.generated += 1
        seq.history.append(token)
        seq.todo = [token]
        req.sink.put(event)
        if seq.generated >= req.max_tokens or seq.pos + 1 >= self.context_length:
            self._retire(seq, FINISH_LENGTH)

    def _logprobs(self, row: int, token: int, top: int, event: Event) -> None:
        import numpy as np
        ptr = self._L.llama_get_logits_ith(self._ctx, row)
        logits = np.ctypeslib.as_array(ptr, shape=(self._n_vocab,)).astype(np.float64)
        peak = float(logits.max())
        lse = peak + math.log(float(np.exp(logits - peak).sum()))
        event.logprob = float(logits[token]) - lse
        if top:
            best = np.argpartition(-logits, top)[:top]
            best = best[np.argsort(-logits[best])]
            event.top = [TopLogprob(token=self._text(int(t)), logprob=float(logits[t]) - lse,
                                    raw=self.token_bytes(int(t))) for t in best]

    def _text(self, token: int) -> str:
        return self.token_bytes(token).decode("utf-8", "replace")

    def _retire(self, seq: _Seq, finish: str, error: str | None = None) -> None:
        if seq in self._active:
            self._active.remove(seq)
            if finish == FINISH_ERROR:
                self._L.llama_memory_seq_rm(self._mem, seq.seq_id, -1, -1)
                self._free_ids.append(seq.seq_id)
            else:   # keep its cells for a later request with the same prefix
                self._retained[seq.seq_id] = seq.history[:seq.pos]
        self._finish(seq, finish, error)

    def _finish(self, seq: _Seq, finish: str, error: str | None = None) -> None:
        if seq.sampler is not None:
            self._L.llama_sampler_free(seq.sampler)
            seq.sampler = None
        seq.req.sink.put(Event(index=seq.req.index, finish=finish, error=error))

    def _fail_all(self, why: str) -> None:
        with self._wake:
            pending = list(self._active) + list(self._queue)
            self._active.clear()
            self._queue.clear()
        for seq in pending:
            self._finish(seq, FINISH_ERROR, why)

    # --- sampling ---------------------------------------------------------------------------

    def _sampler(self, req: GenRequest) -> Any:
        L, s = self._L, req.sampling
        chain = L.llama_sampler_chain_init(L.llama_sampler_chain_default_params())
        add = L.llama_sampler_chain_add
        if s.json_mode:
            from llama_cpp.llama_grammar import JSON_GBNF
            add(chain, L.llama_sampler_init_grammar(self._vocab, JSON_GBNF.encode(), b"root"))
        if s.presence_penalty or s.frequency_penalty or s.repetition_penalty != 1.0:
            add(chain, L.llama_sampler_init_penalties(PENALTY_WINDOW, s.repetition_penalty,
                                                      s.frequency_penalty, s.presence_penalty))
        if s.temperature <= 0.0:
            add(chain, L.llama_sampler_init_greedy())
            return chain
        if s.top_k > 0:
            add(chain, L.llama_sampler_init_top_k(s.top_k))
        if s.top_p < 1.0:
            add(chain, L.llama_sampler_init_top_p(s.top_p, 1))
        if s.min_p > 0.0:
            add(chain, L.llama_sampler_init_min_p(s.min_p, 1))
        add(chain, L.llama_sampler_init_temp(s.temperature))
        seed = s.seed if s.seed is not None else random.getrandbits(32)
        add(chain, L.llama_sampler_init_dist(seed & 0xFFFFFFFF))
        return chain


def _quiet(L: Any) -> None:
    """llama.cpp logs every tensor it loads; keep warnings and errors only."""
    try:
        from llama_cpp import _logger
        _logger.set_verbose(False)
    except (ImportError, AttributeError):
        pass



def _common_prefix(a: list[int], b: list[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i
