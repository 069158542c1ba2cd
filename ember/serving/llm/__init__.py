"""Language-model serving: the worker (``worker.py``) that answers OpenAI's and Azure's model
inference API (``api.py``, ``_api_*.py``) from a runtime that decodes concurrent requests
together (``runtime.py``: the interface; ``llamacpp.py``: GGUF files on llama.cpp)."""
