"""Tiny random MoE models of six architectures for fast routing tests (no download).

    from moe_models import MOE_ARCHS, tiny_moe   # tests/ is on sys.path under pytest
    model = tiny_moe("qwen2_moe")                # 2 decoder layers, 8 experts, top-2
"""

from __future__ import annotations

MOE_ARCHS = ("mixtral", "qwen2_moe", "qwen3_moe", "olmoe", "deepseek_v3", "gpt_oss")
VOCAB, E, K = 128, 8, 2


def tiny_moe(arch: str, seed: int = 0, vocab_size: int = VOCAB):
    """A 2-layer random MoE causal LM of ``arch`` with E = 8 experts, k = 2 per token."""
    import torch
    import transformers as T

    torch.manual_seed(seed)
    common = dict(vocab_size=vocab_size, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, max_position_embeddings=256, num_experts_per_tok=K,
                  bos_token_id=1, eos_token_id=2, pad_token_id=0)
    if arch == "mixtral":
        cfg = T.MixtralConfig(intermediate_size=32, num_local_experts=E, **common)
        cls = T.MixtralForCausalLM
    elif arch == "qwen2_moe":
        cfg = T.Qwen2MoeConfig(intermediate_size=64, moe_intermediate_size=32, shared_expert_intermediate_size=64,
                               num_experts=E, decoder_sparse_step=1, **common)
        cls = T.Qwen2MoeForCausalLM
    elif arch == "qwen3_moe":
        cfg = T.Qwen3MoeConfig(intermediate_size=64, moe_intermediate_size=32, num_experts=E, decoder_sparse_step=1,
                               head_dim=16, **common)
        cls = T.Qwen3MoeForCausalLM
    elif arch == "olmoe":
        cfg = T.OlmoeConfig(intermediate_size=32, num_experts=E, **common)
        cls = T.OlmoeForCausalLM
    elif arch == "deepseek_v3":
        # first_k_dense_replace=1: layer 0 is a dense MLP, layer 1 the MoE (the real model's layout).
        common["num_key_value_heads"] = 4  # MLA expands keys to every head: no GQA
        cfg = T.DeepseekV3Config(intermediate_size=64, moe_intermediate_size=32, n_routed_experts=E, n_group=2,
                                 topk_group=1, n_shared_experts=1, first_k_dense_replace=1, kv_lora_rank=16,
                                 q_lora_rank=None, qk_rope_head_dim=8, qk_nope_head_dim=8, v_head_dim=16, **common)
        cls = T.DeepseekV3ForCausalLM
    elif arch == "gpt_oss":
        cfg = T.GptOssConfig(intermediate_size=32, num_local_experts=E, head_dim=16, sliding_window=16, **common)
        cls = T.GptOssForCausalLM
    else:
        raise ValueError(arch)
    model = cls(cfg).eval()
    with torch.no_grad():  # zero-initialised routers (Qwen2-MoE, DeepSeek, gpt-oss) would route by tie order
        for name, p in model.named_parameters():
            if name.endswith(("gate.weight", "router.weight")) and p.dim() == 2:
                p.normal_(0, 0.5)
    return model
