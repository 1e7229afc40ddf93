"""Tiny random mixture-of-experts models of six architectures (no download), for fast backend tests.

    from tiny_moe import ARCHS, tiny_moe, unfuse_experts   # tests/ is on sys.path under pytest
    model = tiny_moe("qwen2_moe")        # a Qwen2MoeForCausalLM with a shared expert, 2 layers
    unfuse_experts(model)                # the same function, one nn.Linear per expert matrix

Each config keeps hidden 32, expert width 32, 8 experts, top-2, vocab 128 (DeepSeek-V3: its
first layer dense via ``first_k_dense_replace=1``, MLA attention; gpt-oss: biases, transposed
and interleaved gate/up). ``tiny_moe(arch, width=128)`` scales every hidden and intermediate
size by ``width / 32`` (hidden 128 and expert width 128 at 128, 256 and 256 at 256): wide enough
for GPTQ groups of 128 columns, still under a second to build.
"""

from __future__ import annotations

ARCHS = ("mixtral", "qwen2_moe", "qwen3_moe", "olmoe", "deepseek_v3", "gpt_oss")

_BASE = dict(vocab_size=128, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
            max_position_embeddings=256, num_experts_per_tok=2,
            bos_token_id=1, eos_token_id=2, pad_token_id=0)


def _config(arch: str, width: int = 32):
    import transformers as tf

    if width % 32:
        raise ValueError(f"width {width} is not a multiple of 32")
    k = width // 32
    _COMMON = dict(_BASE, hidden_size=32 * k)
    if arch == "mixtral":
        return tf.MixtralConfig(**_COMMON, intermediate_size=32 * k, num_local_experts=8)
    if arch == "qwen2_moe":
        return tf.Qwen2MoeConfig(**_COMMON, intermediate_size=64 * k, moe_intermediate_size=32 * k, num_experts=8,
                                 shared_expert_intermediate_size=48 * k, decoder_sparse_step=1, norm_topk_prob=True)
    if arch == "qwen3_moe":
        return tf.Qwen3MoeConfig(**_COMMON, intermediate_size=64 * k, moe_intermediate_size=32 * k, num_experts=8,
                                 head_dim=8 * k, decoder_sparse_step=1, norm_topk_prob=True)
    if arch == "olmoe":
        return tf.OlmoeConfig(**_COMMON, intermediate_size=32 * k, num_experts=8)
    if arch == "deepseek_v3":
        c = dict(_COMMON, num_hidden_layers=3, num_key_value_heads=4)  # MLA: one kv head per head
        return tf.DeepseekV3Config(**c, intermediate_size=64 * k, moe_intermediate_size=32 * k, n_routed_experts=8,
                                   n_shared_experts=1, n_group=2, topk_group=1, first_k_dense_replace=1,
                                   kv_lora_rank=16 * k, q_lora_rank=24 * k, qk_rope_head_dim=8 * k, qk_nope_head_dim=8 * k,
                                   v_head_dim=8 * k, rope_interleave=True)
    if arch == "gpt_oss":
        return tf.GptOssConfig(**_COMMON, intermediate_size=32 * k, num_local_experts=8, head_dim=8 * k, sliding_window=16,
                               layer_types=["sliding_attention", "full_attention"])
    raise ValueError(f"unknown arch {arch!r}; known: {', '.join(ARCHS)}")


def tiny_moe(arch: str, seed: int = 0, width: int = 32):
    """A tiny random ``arch`` MoE causal LM in eval mode; the gpt-oss biases and DeepSeek's router are
    randomised too (their inits are zeros, which would route every token alike)."""
    import torch
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    cfg = _config(arch, width)
    cfg._experts_implementation = "eager"
    model = AutoModelForCausalLM.from_config(cfg).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(("_bias", "router.weight", "router.bias", "gate.weight")) and p.dim() >= 1:
                p.normal_(0, 0.5 if "gate.weight" in name or "router" in name else 0.02)
    return model




def unfuse_experts(model):
    """Replace every fused experts module (gate_up_proj / down_proj 3-D parameters) by a ModuleList of
    per-expert gate/up/down ``nn.Linear`` s holding the same weights: the layout of older checkpoints.
    Non-transposed, concatenated, bias-free layouts only (not gpt-oss)."""
    import torch
    from torch import nn

    from prune_backend.layers import decoder_layers

    class Expert(nn.Module):
        def __init__(self, gate, up, down, act):
            super().__init__()
            self.gate_proj = nn.Linear(gate.shape[1], gate.shape[0], bias=False)
            self.up_proj = nn.Linear(up.shape[1], up.shape[0], bias=False)
            self.down_proj = nn.Linear(down.shape[1], down.shape[0], bias=False)
            with torch.no_grad():
                self.gate_proj.weight.copy_(gate)
                self.up_proj.weight.copy_(up)
                self.down_proj.weight.copy_(down)
            self.act = act

        def forward(self, x):
            return self.down_proj(self.act(self.gate_proj(x)) * self.up_proj(x))

    class Experts(nn.ModuleList):
        def forward(self, hidden, top_k_index, top_k_weights):  # (T, H), (T, k), (T, k)
            out = torch.zeros_like(hidden)
            for e, expert in enumerate(self):
                top_k_pos, token_idx = torch.where((top_k_index == e).t())
                if token_idx.numel():
                    y = expert(hidden[token_idx]) * top_k_weights[token_idx, top_k_pos, None]
                    out.index_add_(0, token_idx, y.to(out.dtype))
            return out

    for layer in decoder_layers(model):
        mlp = layer.mlp
        fused = getattr(mlp, "experts", None)
        if fused is None or not hasattr(fused, "gate_up_proj"):
            continue
        assert not fused.is_transposed and fused.is_concatenated and not fused.has_bias
        inter = fused.gate_up_proj.shape[1] // 2
        mlp.experts = Experts([Expert(fused.gate_up_proj[e, :inter], fused.gate_up_proj[e, inter:],
                                      fused.down_proj[e], fused.act_fn) for e in range(fused.gate_up_proj.shape[0])])
    return model
