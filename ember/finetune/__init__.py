"""Ember's fine-tuning engine: the code that runs inside a fine-tuning job's process.

A ``type: finetuning`` job (issue 13) launches ``python -m ember.finetune.train --config
<file.json>``; everything heavy (torch, transformers, peft, gguf) is imported inside functions so
that the rest of Ember, and this package's own data checks, load without the ``finetune`` extra.

    data.py        read and check the training/validation lines; tokenise with the loss masked to
                   what the model should learn (assistant turns, completions)
    convert.py     a GGUF language model → a cached, trainable Hugging Face folder
    train.py       the job's entry point: config → LoRA training → adapter/, merged/, adapter.gguf
    gguf_lora.py   a PEFT LoRA adapter → a GGUF LoRA adapter that llama.cpp loads
"""
