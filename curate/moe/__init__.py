"""Mixture-of-experts support on the curate side: expert coverage of a set, and a derived MoE.

    python -m curate.moe.derive --experts 8 --top-k 2          # SmolLM2-135M -> a Mixtral (MoEfication)
    curate score out/default --model <derived folder> --scores expert_coverage --out runs/cov

Modules: :mod:`~curate.moe.routing` (find the routers of any transformers MoE, count the tokens
each expert receives in one forward pass; the coverage statistics as pure functions),
:mod:`~curate.moe.derive` (MoEfication of a dense Llama into a standard Mixtral checkpoint).
The recipe steps live beside the others: the ``expert_coverage`` scorer
(:mod:`curate.steps.expert_coverage`) and the ``expert_balanced`` selector
(:mod:`curate.steps.expert_balanced`).
"""
