"""Inference GFLOPs per image of a method (the efficiency table, LORE Table 7)."""
from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count


def _sdpa_flops(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    return sdpa_flop_count(query_shape, key_shape, value_shape)


# torch counts the CUDA attention kernels but not the CPU one; count it the same way.
_CPU_ATTENTION = {torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _sdpa_flops}


def gflops_per_image(model: nn.Module, images: torch.Tensor) -> float:
    """Forward FLOPs of one image in evaluation: what is computed once per
    evaluation (class-prompt text features, cached by the prompt methods) is
    warmed up first and not counted."""
    # nn.MultiheadAttention's fused fast path (taken under no_grad) is invisible
    # to the counter: it would drop a third of ViT-B/16's FLOPs. Turn it off.
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    # Views of a parameter that requires grad, taken under no_grad, still say
    # requires_grad without a grad_fn, which the counter's module tracker rejects.
    trainable = [p for p in model.parameters() if p.requires_grad]
    for p in trainable:
        p.requires_grad_(False)
    try:
        with torch.no_grad():
            model(images[:1])
            counter = FlopCounterMode(display=False, custom_mapping=_CPU_ATTENTION)
            with counter:
                model(images[:1])
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
        for p in trainable:
            p.requires_grad_(True)
    return counter.get_total_flops() / 1e9
