"""Tiny random models for fast tests (no download): a Llama built from a config, a byte tokenizer.

    from tiny_models import TINY_VOCAB, tiny_llama, tiny_tokenizer   # tests/ is on sys.path under pytest
    model, tok = tiny_llama(vocab_size=TINY_VOCAB), tiny_tokenizer()
"""

from __future__ import annotations


def tiny_llama(vocab_size: int = 256, hidden: int = 32, layers: int = 2, heads: int = 4, kv_heads: int = 2,
               intermediate: int = 64, max_pos: int = 512, seed: int = 0):
    """A tiny random LlamaForCausalLM for fast unit tests (no download)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=vocab_size, hidden_size=hidden, num_hidden_layers=layers,
                      num_attention_heads=heads, num_key_value_heads=kv_heads,
                      intermediate_size=intermediate, max_position_embeddings=max_pos,
                      bos_token_id=1, eos_token_id=2, pad_token_id=2, tie_word_embeddings=True)
    return LlamaForCausalLM(cfg).eval()


def tiny_tokenizer():
    """A byte-level tokenizer (3 specials + 256 bytes, no merges) for tests with tiny_llama():
    every byte is one token, so any text round-trips and lengths are predictable."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    specials = ["<pad>", "<s>", "</s>"]
    vocab = {t: i for i, t in enumerate(specials)}
    for ch in bytes_to_unicode().values():
        vocab[ch] = len(vocab)
    tk = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(tokenizer_object=tk, pad_token="<pad>", bos_token="<s>", eos_token="</s>")


TINY_VOCAB = 259


def tiny_gemma3(vocab_size: int = 256, hidden: int = 32, layers: int = 3, sliding_window: int = 4, seed: int = 0):
    """A tiny random Gemma3ForCausalLM: sliding-window layers around a full-attention one (layer 1),
    each type with its own rotary theta, as Gemma-3-270M (5 sliding : 1 full); a window shorter than
    the test sequences makes the two layer types compute different things."""
    import torch
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    torch.manual_seed(seed)
    types = ["full_attention" if i % 2 else "sliding_attention" for i in range(layers)]
    cfg = Gemma3TextConfig(vocab_size=vocab_size, hidden_size=hidden, intermediate_size=2 * hidden,
                           num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=1, head_dim=16,
                           sliding_window=sliding_window, layer_types=types, max_position_embeddings=512,
                           query_pre_attn_scalar=16, bos_token_id=1, eos_token_id=2, pad_token_id=0,
                           rope_parameters={"full_attention": {"rope_type": "default", "rope_theta": 1e6},
                                            "sliding_attention": {"rope_type": "default", "rope_theta": 1e4}},
                           tie_word_embeddings=True)
    cfg._attn_implementation = "eager"
    return Gemma3ForCausalLM(cfg).eval()


def tiny_bos_tokenizer():
    """:func:`tiny_tokenizer` that puts <s> before every text by default, as Gemma's and Llama's do."""
    from tokenizers import processors

    tok = tiny_tokenizer()
    tok._tokenizer.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B",
                                                                   special_tokens=[("<s>", 1)])
    return tok
