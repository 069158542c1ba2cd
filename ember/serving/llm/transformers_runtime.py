"""The transformers runtime: a Hugging Face folder (safetensors, ``config.json``, tokenizer) on a
GPU when there is one (bfloat16) or on CPU (float32).

Batching
    Requests are decoded by transformers' own continuous batching: a
    ``ContinuousBatchingManager`` (``model.init_continuous_batching``) runs one background thread
    that packs the next token of every running request, and slices of new prompts, into one
    forward pass over a paged KV cache. Each request is added with ``streaming=True``; a pump
    thread per manager moves its outputs to the requests' sinks and turns a cancelled request
    into ``cancel_request`` (the manager then frees its blocks). Temperature, top-p and top-k
    are per request (the manager's per-request logits processors); the manager samples every
    request with one ``multinomial``. Greedy requests of the base model have a manager of their
    own without those processors (an argmax); an adapter's greedy request is top-k 1. The KV cache is ``kv_blocks`` pages
    of 256 tokens: on CPU the default is enough for ``max_sequences`` requests plus one whole
    context (the manager's own default sizes the cache from free memory: gigabytes); on a GPU
    the manager sizes it from free memory.

Seeds and logprobs
    The manager draws all its requests' tokens from one generator in one call, so what a request
    draws depends on what else is in the batch, and it reports at most the sampled token's
    probability after temperature and truncation. A request with a ``seed``, ``logprobs``,
    penalties or ``min_p`` goes to the exact lane (``_hf_exact.py``) instead: its own cache and
    seeded generator, turns with the other such requests, the model's own log-probabilities.
    ``response_format`` JSON mode has no grammar here: refused (``RequestRefused``, a 422).

LoRA adapters (an :class:`AdapterIndex`: the config's ``adapters``, ``adapters_index``;
``adapter_cache_size``)
    The index names the adapters a request may use, and is read again when its file changes
    (adapters registered after the worker started). What is loaded is a folder: a name whose
    folder changed (a new version registered) loads the new one, a ``<name>:<version>`` that
    is the same folder shares its load; the PEFT name (``ember_adapter_<n>``) is per load, and a
    request is bound to it when submitted.
    An adapter is loaded with PEFT when a request first names it (no restart), into the same
    model object: ``PeftModel.from_pretrained`` for the first, ``load_adapter`` after, with every
    running manager paused (``manager.pause()``) and the exact lane's lock held while the
    modules change. Which adapter a forward pass uses is PEFT's mixed-batch switch
    (``adapter_names``), passed by a forward pre-hook on every LoRA layer: the adapter bound to
    the thread running the forward (``"__base__"``, no adapter, by default). Each loaded adapter
    gets its own manager (its own thread and, smaller, KV cache), so an adapter's concurrent
    requests batch together while base requests keep batching in theirs. One manager cannot
    mix adapters: it packs every request's tokens into one row, and ``adapter_names`` choose
    per row. At most ``adapter_cache_size`` adapters stay loaded: loading one more first loads
    it, then deletes the least recently used adapter that has no request running (its manager
    stops); when every loaded adapter is busy the cache holds one more until one is free.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import uuid
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ember.serving.llm import _hf_sampling
from ember.serving.llm._hf_exact import ExactLane, needs_exact_lane
from ember.serving.llm._hf_tokens import TokenBytes
from ember.serving.llm.adapter_index import AdapterIndex
from ember.serving.llm.runtime import (
    FINISH_CANCELLED,
    FINISH_ERROR,
    FINISH_LENGTH,
    FINISH_STOP,
    Event,
    GenRequest,
    RequestRefused,
    Runtime,
    RuntimeMissing,
)

log = logging.getLogger("ember.serving.llm")
PAGE_SIZE = 256           # tokens per KV page (the manager's default)
BASE = "__base__"         # PEFT's name for "no adapter" in a mixed batch
PUMP_SECONDS = 0.05       # how often a pump looks for cancelled requests when no output comes


def import_transformers() -> tuple[Any, Any]:
    """torch and transformers, or ``RuntimeMissing`` naming the extra."""
    # A worker never downloads: a missing file must fail at once, not wait on a network timeout.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        import torch
        import transformers
    except ImportError as exc:
        raise RuntimeMissing("the transformers runtime needs torch and transformers: pip install "
                             "'ember-ml[transformers]'") from exc
    transformers.utils.logging.disable_progress_bar()   # no bars in the deployment log
    return torch, transformers


class _AdapterRouter:
    """Which adapter the forward pass running on each thread uses."""

    def __init__(self) -> None:
        self._by_thread: dict[int, str] = {}
        self._hooked: set[int] = set()

    def bind(self, thread_id: int | None, adapter: str | None) -> None:
        if thread_id is not None:
            self._by_thread[thread_id] = adapter or BASE

    def unbind(self, thread_id: int | None) -> None:
        self._by_thread.pop(thread_id or -1, None)

    def use(self, adapter: str | None) -> None:
        self._by_thread[threading.get_ident()] = adapter or BASE

    def hook_new_layers(self, model: Any) -> None:
        from peft.tuners.lora import LoraLayer

        for module in model.modules():
            if isinstance(module, LoraLayer) and id(module) not in self._hooked:
                nn_module: Any = module
                nn_module.register_forward_pre_hook(self._pre_forward, with_kwargs=True)
                self._hooked.add(id(module))

    def _pre_forward(self, module: Any, args: Any, kwargs: dict[str, Any]) -> Any:
        kwargs["adapter_names"] = [self._by_thread.get(threading.get_ident(), BASE)]
        return args, kwargs


@dataclass
class _Pending:
    req: GenRequest
    sent: int = 0


class _Lane:
    """One continuous-batching manager (the base model's or one adapter's) and its pump."""

    def __init__(self, runtime: TransformersRuntime, adapter: str | None,
                 cb_config: Any, generation_config: Any, *, greedy: bool = False) -> None:
        self.runtime = runtime
        self.adapter = adapter
        self.greedy = greedy   # an argmax manager: no per-request processors to pass
        self.manager = runtime.model.init_continuous_batching(
            generation_config=generation_config, continuous_batching_config=cb_config)
        self.manager.start()
        # The manager's thread runs every forward of this lane: the adapter is bound to it.
        self.thread_id = self.manager._generation_thread.ident
        runtime.router.bind(self.thread_id, adapter)
        self.pending: dict[str, _Pending] = {}
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.pump = threading.Thread(target=self._pump, daemon=True,
                                     name=f"hf-pump-{adapter or 'base'}")
        self.pump.start()

    def busy(self) -> bool:
        with self.lock:
            return bool(self.pending)

    def add(self, req: GenRequest) -> None:
        rid = uuid.uuid4().hex
        with self.lock:
            self.pending[rid] = _Pending(req)
        added = self.manager.add_request(
            input_ids=list(req.prompt), request_id=rid, max_new_tokens=req.max_tokens,
            streaming=True, eos_token_id=sorted(self.runtime.eos_ids),
            **({} if self.greedy else self.runtime.processor_kwargs(req)))
        if added is None:
            self._end(rid, FINISH_ERROR, "the decoding loop has stopped")

    def stop(self) -> None:
        self.stopping.set()
        self.manager.stop(block=True, timeout=10)
        self.pump.join(timeout=10)
        self.runtime.router.unbind(self.thread_id)
        with self.lock:
            left = list(self.pending)
        for rid in left:
            self._end(rid, FINISH_ERROR, "the model server is stopping")

    def _end(self, rid: str, finish: str, error: str | None = None) -> None:
        with self.lock:
            p = self.pending.pop(rid, None)
        if p is not None:
            p.req.sink.put(Event(index=p.req.index, finish=finish, error=error))

    def _pump(self) -> None:
        try:
            self._pump_loop()
        except Exception as exc:  # noqa: BLE001 - every waiting client must hear of it
            log.exception("continuous-batching pump failed")
            with self.lock:
                left = list(self.pending)
            for rid in left:
                self._end(rid, FINISH_ERROR, f"{type(exc).__name__}: {exc}")

    def _pump_loop(self) -> None:
        manager, tokens = self.manager, self.runtime.token_bytes
        while not self.stopping.is_set():
            out = manager.get_result(timeout=PUMP_SECONDS)
            if out is None and not manager.is_running():
                with self.lock:
                    left = list(self.pending)
                for rid in left:
                    self._end(rid, FINISH_ERROR, "the decoding loop stopped")
                self.stopping.wait(PUMP_SECONDS)
            elif out is not None:
                with self.lock:
                    p = self.pending.get(out.request_id)
                if p is not None:
                    self._deliver(p, out, tokens)
            with self.lock:
                cancelled = [rid for rid, p in self.pending.items() if p.req.cancelled.is_set()]
            for rid in cancelled:
                manager.cancel_request(rid)
                self._end(rid, FINISH_CANCELLED)

    def _deliver(self, p: _Pending, out: Any, tokens: Any) -> None:
        from transformers.generation.continuous_batching.requests import RequestStatus

        req, eos = p.req, self.runtime.eos_ids
        new = out.generated_tokens[p.sent:]
        p.sent = len(out.generated_tokens)
        stopped = False
        for token in new:
            if token in eos:
                stopped = True
                break
            req.sink.put(Event(index=req.index, token=int(token), piece=tokens(int(token))))
        if out.status == RequestStatus.FAILED or out.error:
            self._end(out.request_id, FINISH_ERROR, out.error or "generation failed")
        elif stopped:   # the manager ended it on the end-of-turn token
            self._end(out.request_id, FINISH_STOP)
        elif out.is_finished():
            self._end(out.request_id, FINISH_LENGTH)


class TransformersRuntime(Runtime):
    name = "transformers"

    def __init__(self, path: Path, *, threads: int = 1, max_sequences: int = 16,
                 context_length: int | None = None, adapters: dict[str, str] | None = None,
                 adapter_index: AdapterIndex | None = None,
                 adapter_cache_size: int = 4, kv_blocks: int | None = None,
                 max_batch_tokens: int | None = None, device: str | None = None) -> None:
        torch, transformers = import_transformers()
        _hf_sampling.install()   # top-k/top-p without sorting the vocabulary on CPU
        self._torch = torch
        torch.set_num_threads(max(1, threads))
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        dtype = torch.bfloat16 if self.device.startswith("cuda") else torch.float32
        self.tokenizer = transformers.AutoTokenizer.from_pretrained(str(path))
        model = transformers.AutoModelForCausalLM.from_pretrained(
            str(path), dtype=dtype, attn_implementation="sdpa")
        self.model = model.to(self.device).eval()
        text_config = model.config.get_text_config()
        trained = int(getattr(text_config, "max_position_embeddings", 0) or 0) or 2048
        self.context_length = min(context_length or trained, trained)
        self.max_sequences = max(1, max_sequences)
        self.vocab_size = int(text_config.vocab_size)
        self._token_bytes = TokenBytes(self.tokenizer)
        template = self.tokenizer.chat_template
        self.chat_template = template if isinstance(template, str) else None
        self.bos_token = self.tokenizer.bos_token or ""
        self.eos_token = self.tokenizer.eos_token or ""
        self.eos_ids = self._eos_ids()
        # Non-default temperature/top-k/top-p so that the manager builds the three per-request
        # processors; every request then passes its own values.
        self.generation_config = transformers.GenerationConfig(
            do_sample=True, temperature=0.7, top_k=50, top_p=0.9,
            eos_token_id=sorted(self.eos_ids), max_new_tokens=self.context_length)
        # Greedy requests of the base model have their own manager: an argmax, no per-request
        # processors (with them a greedy request is a top-k 1 draw over the whole vocabulary).
        self.greedy_config = transformers.GenerationConfig(
            do_sample=False, eos_token_id=sorted(self.eos_ids),
            max_new_tokens=self.context_length)
        self._kv_blocks, self._max_batch_tokens = kv_blocks, max_batch_tokens
        self._index = adapter_index if adapter_index is not None else AdapterIndex(adapters)
        self._cache_size = max(1, adapter_cache_size)
        self.router = _AdapterRouter()
        self._peft: Any = None
        # PEFT's own name for each load: ours may be anything, PEFT's must be a module-dict key
        # that is no part of its "lora_" prefix ("a" is, and reloads wrongly).
        self._loads = 0
        self._adapters: OrderedDict[str, _Lane] = OrderedDict()   # PEFT name -> lane, LRU first
        self._folders: dict[str, str] = {}                        # PEFT name -> folder
        self._adapter_lock = threading.Lock()
        self._closed = False
        self.exact = ExactLane(self.model, eos=self.eos_ids, context_length=self.context_length,
                               token_bytes=self.token_bytes,
                               use_adapter=self.router.use,
                               max_active=self.max_sequences)
        # The base model's lanes, made on first use (each holds a KV cache): greedy, sampled.
        self._base_lanes: dict[bool, _Lane] = {}

    def _eos_ids(self) -> set[int]:
        ids: set[int] = set()
        for source in (getattr(self.model.generation_config, "eos_token_id", None),
                       self.model.config.get_text_config().eos_token_id,
                       self.tokenizer.eos_token_id):
            if isinstance(source, int):
                ids.add(source)
            elif isinstance(source, (list, tuple)):
                ids.update(int(i) for i in source)
        return ids

    def _cb_config(self, *, adapter: bool, greedy: bool = False) -> Any:
        from transformers import ContinuousBatchingConfig

        whole = math.ceil(self.context_length / PAGE_SIZE)
        blocks = self._kv_blocks
        memory = None
        if blocks is None and self.device == "cpu":
            blocks = whole + self.max_sequences
        if blocks is not None:
            blocks = max(blocks, whole + 1)
        elif self._index.enabled:   # GPU: the base and each adapter lane share free memory
            memory = 0.8 / (1 + self._cache_size)
        batch_tokens = self._max_batch_tokens or (512 if self.device == "cpu" else None)
        return ContinuousBatchingConfig(
            num_blocks=blocks, max_batch_tokens=batch_tokens, max_memory_percent=memory,
            max_requests_per_batch=self.max_sequences, per_request_processors=not greedy,
            use_cuda_graph=False if self.device == "cpu" else None)

    # --- tokens ---------------------------------------------------------------------------

    def tokenize(self, text: str, *, add_special: bool) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=add_special)["input_ids"])

    def token_bytes(self, token: int) -> bytes:
        return self._token_bytes(token)

    # --- requests ---------------------------------------------------------------------------

    def processor_kwargs(self, req: GenRequest) -> dict[str, Any]:
        s = req.sampling
        if s.temperature <= 0.0:    # greedy: only the most likely token can be drawn
            return {"temperature": 1.0, "top_k": 1, "top_p": 1.0}
        return {"temperature": float(s.temperature),
                "top_k": int(s.top_k) if s.top_k > 0 else self.vocab_size,
                "top_p": float(s.top_p)}

    def submit(self, request: GenRequest) -> None:
        if request.sampling.json_mode:
            raise RequestRefused("response_format: json_object is not supported by the "
                                 "transformers runtime (no grammar-constrained decoding)",
                                 param="response_format")
        if self._closed:
            request.sink.put(Event(index=request.index, finish=FINISH_ERROR,
                                   error="the model server is stopping"))
            return
        exact = needs_exact_lane(request.sampling)
        if request.adapter is None:
            if exact:
                self.exact.submit(request)
            else:
                self._base_lane(greedy=request.sampling.temperature <= 0.0).add(request)
            return
        try:
            with self._adapter_lock:
                lane = self._adapter_lane(request.adapter)
                # Bound to this load: a new version of the adapter loaded meanwhile is another.
                request.adapter = lane.adapter
                (self.exact.submit if exact else lane.add)(request)
        except Exception as exc:  # noqa: BLE001 - a broken adapter fails its request only
            log.exception("loading adapter %s failed", request.adapter)
            request.sink.put(Event(index=request.index, finish=FINISH_ERROR,
                                   error=f"adapter {request.adapter}: {exc}"))

    def adapters(self) -> dict[str, Any]:
        loaded = set(self._folders.copy().values())   # copy(): atomic, loads run meanwhile
        return {name: {"loaded": path in loaded, "path": path}
                for name, path in self._index.listed().items()}

    def close(self) -> None:
        self._closed = True
        with self._adapter_lock:
            lanes = [*self._base_lanes.values(), *self._adapters.values()]
        for lane in lanes:
            lane.stop()
        self.exact.close()

    def _base_lane(self, *, greedy: bool) -> _Lane:
        """The base model's greedy or sampling lane, started on first use (under the adapter
        lock: no lane starts while an adapter load has the others paused)."""
        lane = self._base_lanes.get(greedy)
        if lane is None:
            with self._adapter_lock:
                lane = self._base_lanes.get(greedy)
                if lane is None:
                    lane = _Lane(self, None, self._cb_config(adapter=False, greedy=greedy),
                                 self.greedy_config if greedy else self.generation_config,
                                 greedy=greedy)
                    self._base_lanes[greedy] = lane
        return lane

    # --- adapters ---------------------------------------------------------------------------

    def _adapter_lane(self, name: str) -> _Lane:
        """The lane of the adapter ``name`` names now, loading it (and evicting another) if
        needed. Holds the lock."""
        path = self._index.find(name)
        if path is None:
            raise KeyError(f"no adapter named {name!r}")
        for peft_name, folder in self._folders.items():
            if folder == path:
                self._adapters.move_to_end(peft_name)
                return self._adapters[peft_name]
        peft_name = f"ember_adapter_{self._loads}"
        self._loads += 1
        victims = self._victims()
        with self._paused():
            self._load(peft_name, path)
            for victim in victims:
                self._peft.set_adapter(peft_name)   # never delete the active one
                self._peft.delete_adapter(victim.adapter)
        for victim in victims:
            del self._adapters[victim.adapter or ""]
            self._folders.pop(victim.adapter or "", None)
            victim.stop()
        lane = _Lane(self, peft_name, self._cb_config(adapter=True), self.generation_config)
        self._adapters[peft_name] = lane
        self._folders[peft_name] = path
        log.info("adapter %s loaded from %s as %s (%d loaded)", name, path, peft_name,
                 len(self._adapters))
        return lane

    def _victims(self) -> list[_Lane]:
        """Least recently used idle adapters to drop so that one more fits."""
        extra = len(self._adapters) + 1 - self._cache_size
        in_exact = self.exact.adapters_in_use()
        idle = [lane for name, lane in self._adapters.items()
                if not lane.busy() and name not in in_exact]
        return idle[:max(0, extra)]

    def _load(self, name: str, path: str) -> None:
        try:
            from peft import PeftModel
        except ImportError as exc:
            raise RuntimeMissing("LoRA adapters need peft: pip install "
                                 "'ember-ml[transformers]'") from exc

        if self._peft is None:
            self._peft = PeftModel.from_pretrained(self.model, path, adapter_name=name,
                                                   is_trainable=False)
        else:
            self._peft.load_adapter(path, adapter_name=name, is_trainable=False)
        self.router.hook_new_layers(self.model)

    @contextmanager
    def _paused(self) -> Iterator[None]:
        """No forward runs anywhere while the model's modules change."""
        with ExitStack() as stack:
            for lane in [*self._base_lanes.values(), *self._adapters.values()]:
                if lane.manager.is_running():
                    stack.enter_context(lane.manager.pause())
            stack.enter_context(self.exact.lock)
            yield
