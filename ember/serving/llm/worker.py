"""The language-model worker: ``python -m ember.serving.llm.worker <config.json>``.

One process per deployment instance, started by the supervisor like the scoring worker, with a
``protocol.LlmWorkerConfig``. It binds and answers ``GET /`` at once, loads the model into its
runtime (progress lines go to the deployment log), then writes its port file (ready). Requests
are served on a thread each; the runtime decodes all of them together. A stream is written
chunk by chunk (``Transfer-Encoding: chunked``, one SSE event per chunk); a client that goes away
cancels its generation at the next token. SIGTERM stops accepting, lets requests in flight
finish (up to ``DRAIN_SECONDS``) and exits 0.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from ember.serving.llm.adapter_index import AdapterAwareModel, AdapterIndex
from ember.serving.llm.api import TASK_CHAT, TASK_EMBEDDINGS, Reply, ServedModel, Stream
from ember.serving.llm.runtime import Runtime, RuntimeMissing
from ember.serving._service_handler import ServiceHandler
from ember.serving.protocol import LlmWorkerConfig
from ember.serving.worker import WorkerHTTPServer, write_port_file

MAX_BODY_BYTES = 16 * 1024 * 1024
DRAIN_SECONDS = 10.0
IDLE_TIMEOUT_SECONDS = 300.0
EXIT_LOAD_FAILED = 3


class LlmHTTPServer(WorkerHTTPServer):
    """The scoring worker's server (a thread per connection, in-flight count, drain) with the
    language-model handler; ``model`` is None while loading."""

    request_queue_size = 256

    def __init__(self, address: tuple[str, int]) -> None:
        self.model: ServedModel | None = None
        super().__init__(address, LlmHandler)


class LlmHandler(ServiceHandler):
    """The shared worker handler (``serving/_service_handler.py``) with the model as its
    service and OpenAI's error shape."""

    timeout = IDLE_TIMEOUT_SECONDS
    max_body_bytes = MAX_BODY_BYTES
    stream_type = Stream
    server: LlmHTTPServer

    def service(self) -> ServedModel | None:
        return self.server.model

    def error(self, status: int, message: str, code: str) -> Reply:
        return _error(status, message, code)

    def not_ready(self) -> Reply:
        return _error(503, "the model is still loading", "not_ready")

    def stop_stream(self, stream: Stream) -> None:
        stream.cancel()


def _error(status: int, message: str, code: str) -> Reply:
    kind = "invalid_request_error" if status < 500 else "server_error"
    return Reply(status, json.dumps({"error": {"message": message, "type": kind, "param": None,
                                               "code": code}}).encode())


def model_file(path: Path) -> Path:
    """A GGUF file, or the one GGUF file in a folder."""
    if path.is_dir():
        found = sorted(path.rglob("*.gguf"))
        if len(found) != 1:
            raise ValueError(f"{path}: expected one .gguf file in the folder, found "
                             f"{len(found)}")
        return found[0]
    return path


def adapter_index(config: LlmWorkerConfig) -> AdapterIndex:
    """The config's own adapters and those of its ``adapters_index`` file (the control plane
    keeps it: every adapter registered for the base model, see ``serving/llm_adapters.py``)."""
    extra: dict[str, Any] = dict(config)
    return AdapterIndex(config.get("adapters") or {}, extra.get("adapters_index") or None)


def load_runtime(config: LlmWorkerConfig, adapters: AdapterIndex | None = None) -> Runtime:
    runtime = config.get("runtime") or "llama.cpp"
    path = Path(config["model_path"])
    threads = int(config.get("threads") or 1)
    if runtime == "llama.cpp":
        from ember.serving.llm.llamacpp import LlamaCppRuntime

        return LlamaCppRuntime(model_file(path), threads=threads,
                               max_sequences=int(config.get("max_sequences") or 16),
                               context_length=config.get("context_length"))
    if runtime == "transformers":
        extra: dict[str, Any] = dict(config)   # sizes outside the protocol, for tuning
        if config.get("task") == TASK_EMBEDDINGS:
            from ember.serving.llm.embeddings_runtime import EmbeddingsRuntime

            return EmbeddingsRuntime(path, threads=threads, device=extra.get("device"))
        from ember.serving.llm.transformers_runtime import TransformersRuntime

        if path.is_file() or any(path.glob("*.gguf")):
            # A GGUF model on transformers: its Hugging Face copy, made once and shared with
            # fine-tuning (whose adapters are trained on that copy).
            from ember.finetune.convert import trainable_copy

            cache = extra.get("conversion_cache")
            if not cache:
                raise RuntimeMissing("a GGUF model on the transformers runtime needs the "
                                     "worker config's conversion_cache")
            path = trainable_copy(model_file(path), Path(cache),
                                  progress=lambda line: print(line, flush=True))
        return TransformersRuntime(
            path, threads=threads, max_sequences=int(config.get("max_sequences") or 16),
            context_length=config.get("context_length"),
            adapter_index=adapters if adapters is not None else adapter_index(config),
            adapter_cache_size=int(config.get("adapter_cache_size") or 4),
            kv_blocks=extra.get("kv_blocks"), max_batch_tokens=extra.get("max_batch_tokens"),
            device=extra.get("device"))
    raise RuntimeMissing(f"runtime {runtime!r} is not available in this worker (llama.cpp "
                         "serves GGUF files, transformers Hugging Face folders)")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m ember.serving.llm.worker <config.json>", file=sys.stderr)
        return 2
    config: LlmWorkerConfig = json.loads(Path(args[0]).read_text())
    raw: dict[str, Any] = dict(config)
    label = "/".join(str(raw.get(k, "?")) for k in ("workspace", "endpoint", "deployment"))
    for name, value in (raw.get("environment_variables") or {}).items():
        os.environ[name] = str(value)
    server = LlmHTTPServer((str(raw.get("host") or "127.0.0.1"), int(raw.get("port") or 0)))
    server.take_worker_key()
    threading.Thread(target=server.serve_forever, name="llm-http", daemon=True).start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    path = Path(config["model_path"])
    size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.is_dir() \
        else path.stat().st_size if path.exists() else 0
    print(f"ember llm worker {label}: loading {config.get('model_name')} "
          f"({size / 1e6:.0f} MB) with {config.get('runtime') or 'llama.cpp'}, "
          f"{config.get('threads') or 1} thread(s)", file=sys.stderr, flush=True)
    started = time.perf_counter()
    try:
        adapters = adapter_index(config)
        runtime = load_runtime(config, adapters)
        server.model = AdapterAwareModel(
            runtime, str(config.get("model_name") or path.stem),
            str(config.get("task") or TASK_CHAT), index=adapters,
            loads_adapters=runtime.name == "transformers" and
            config.get("task") != TASK_EMBEDDINGS)
    except BaseException as exc:  # noqa: BLE001 - whatever the load raises ends the worker
        print(f"ember llm worker {label}: failed to load the model: {exc}", file=sys.stderr)
        if not isinstance(exc, RuntimeMissing):
            traceback.print_exc(file=sys.stderr)
        return EXIT_LOAD_FAILED
    print(f"ember llm worker {label}: loaded in {time.perf_counter() - started:.1f} s "
          f"(context {runtime.context_length} tokens); ready on "
          f"{server.server_name}:{server.server_port}", file=sys.stderr, flush=True)
    write_port_file(str(config["port_file"]), server.server_port)
    while not stop.wait(1.0):
        pass
    server.drain(DRAIN_SECONDS)
    runtime.close()
    print(f"ember llm worker {label}: stopped", file=sys.stderr)
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
