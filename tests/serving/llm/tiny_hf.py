"""A tiny Llama made on the spot (no downloads): a byte-level BPE tokenizer trained on a few
hundred synthetic sentences, wrapped with a ChatML template; a 2-layer, 64-wide model with random
weights; and LoRA adapters trained for a few steps to favour one token each."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

CHATML = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + "
          "message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
          "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")
WORDS = ("the cat dog sat on a mat and ran to see red blue green sun moon star tree river one "
         "two three four five hello world story time").split()


def build_tokenizer(folder: Path) -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    rng = random.Random(0)
    text = [" ".join(rng.choice(WORDS) for _ in range(12)) + "." for _ in range(400)]
    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    backend.train_from_iterator(text, trainers.BpeTrainer(
        vocab_size=600, special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok = PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="<|im_start|>",
                                  eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                  chat_template=CHATML)
    tok.save_pretrained(folder)
    return tok


def build_base(folder: Path) -> Any:
    """The model and tokenizer saved in ``folder``; returns the tokenizer."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = build_tokenizer(folder)
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=128,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=512, bos_token_id=tok.bos_token_id,
                         eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    model = LlamaForCausalLM(config)
    with torch.no_grad():   # a random model would end a turn at random; this one never does
        model.lm_head.weight[tok.eos_token_id] = 0.0
    model.save_pretrained(folder)
    return tok


def train_adapter(base: Path, folder: Path, favourite: int, steps: int = 60) -> None:
    """A LoRA adapter (q, v and the output head) trained to predict ``favourite`` everywhere."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaForCausalLM

    torch.manual_seed(1)
    model = get_peft_model(LlamaForCausalLM.from_pretrained(base), LoraConfig(
        r=8, lora_alpha=16, target_modules=["q_proj", "v_proj", "lm_head"],
        task_type="CAUSAL_LM"))
    optimiser = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=5e-2)
    vocab = model.config.vocab_size
    gen = torch.Generator().manual_seed(favourite)
    for _ in range(steps):
        ids = torch.randint(3, vocab, (8, 24), generator=gen)
        logits = model(input_ids=ids).logits
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, vocab),
                                                 torch.full((8 * 24,), favourite))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    model.save_pretrained(folder, save_embedding_layers=False)


def greedy(folder: Path, prompt: list[int], n: int, adapter: Path | None = None) -> list[int]:
    """The reference: ``n`` greedy tokens by transformers' own ``generate`` (PEFT for an
    adapter), no batching."""
    import torch
    from transformers import LlamaForCausalLM

    model: Any = LlamaForCausalLM.from_pretrained(folder)
    if adapter is not None:
        from peft import PeftModel
        model = PeftModel.from_pretrained(model, str(adapter))
    model.eval()
    with torch.no_grad():
        out = model.generate(input_ids=torch.tensor([prompt]), max_new_tokens=n, do_sample=False,
                             attention_mask=torch.ones(1, len(prompt), dtype=torch.long))
    return [int(t) for t in out[0, len(prompt):]]
