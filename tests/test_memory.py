"""BlockMemory against a slow, obviously correct reference (explicit loops over blocks)."""
from __future__ import annotations

import math

import pytest
import torch

from daad_lib.memory import BlockMemory, address, assemble, divide


def reference_weights(q: torch.Tensor, items: torch.Tensor, addressing: str = "cosine",
                      temperature: float = 1.0, drop_threshold: float | None = None) -> torch.Tensor:
    """The addressing weights of one query, item by item, written as the papers state them."""
    n = items.shape[0]
    lam = 1.0 / n if drop_threshold is None else drop_threshold
    if addressing == "cosine":  # DAAD Eq. 1, then drop weights below 1/N and renormalise
        sims = torch.stack([q @ m / (q.norm() * m.norm()) for m in items])
        w = torch.exp(sims / temperature) / torch.exp(sims / temperature).sum()
        w = torch.stack([wi if wi >= lam else torch.zeros_like(wi) for wi in w])
        return w / w.sum()
    # MemAE (Gong et al. 2019): softmax of dot products, hard shrinkage, L1 renormalisation
    sims = torch.stack([q @ m for m in items])
    w = torch.exp(sims / temperature) / torch.exp(sims / temperature).sum()
    w = torch.stack([max(wi - lam, 0.0) * wi / (abs(wi - lam) + 1e-12) for wi in w])
    return w / w.abs().sum()


def reference_memory(x: torch.Tensor, items: torch.Tensor, rates, **addressing) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. 1-2 with the 1/N rule, one block at a time."""
    batch, channels, height, width = x.shape
    r_h, r_w, r_c = rates
    bc, bh, bw = channels // r_c, height // r_h, width // r_w
    n = items.shape[0]
    out = torch.empty_like(x)
    all_weights = []
    for b in range(batch):
        weights_b = []
        for ic in range(r_c):
            for ih in range(r_h):
                for iw in range(r_w):
                    crop = (b, slice(ic * bc, (ic + 1) * bc), slice(ih * bh, (ih + 1) * bh),
                            slice(iw * bw, (iw + 1) * bw))
                    q = x[crop].flatten()
                    w = reference_weights(q, items, **addressing)
                    out[crop] = (w @ items).reshape(bc, bh, bw)
                    weights_b.append(w)
        all_weights.append(torch.stack(weights_b))
    return out, torch.stack(all_weights)


@pytest.mark.parametrize("rates", [(1, 1, 1), (2, 2, 1), (4, 2, 1), (2, 4, 2), (2, 2, 4), (8, 8, 1)])
def test_matches_slow_reference(rates):
    torch.manual_seed(0)
    memory = BlockMemory(shape=(4, 8, 8), rates=rates, num_items=7).double()
    x = torch.randn(2, 4, 8, 8, dtype=torch.float64)
    out, weights = memory(x)
    ref_out, ref_weights = reference_memory(x, memory.items.detach(), rates)
    assert out.shape == x.shape
    assert weights.shape == (2, math.prod(rates), 7)
    torch.testing.assert_close(weights, ref_weights)
    torch.testing.assert_close(out, ref_out)


@pytest.mark.parametrize("addressing", [
    dict(addressing="cosine", temperature=0.1),
    dict(addressing="cosine", temperature=1.0, drop_threshold=0.1),
    dict(addressing="dot-shrink", temperature=1.0),
    dict(addressing="dot-shrink", temperature=2.0, drop_threshold=0.05)])
@pytest.mark.parametrize("rates", [(2, 2, 1), (1, 1, 1), (2, 4, 2)])
def test_addressing_options_match_slow_reference(addressing, rates):
    torch.manual_seed(5)
    memory = BlockMemory(shape=(4, 8, 8), rates=rates, num_items=9, **addressing).double()
    x = torch.randn(2, 4, 8, 8, dtype=torch.float64)
    out, weights = memory(x)
    ref_out, ref_weights = reference_memory(x, memory.items.detach(), rates, **addressing)
    torch.testing.assert_close(weights, ref_weights)
    torch.testing.assert_close(out, ref_out)
    torch.testing.assert_close(weights.sum(-1), torch.ones_like(weights[..., 0]))


def test_dot_shrink_is_sparser_than_the_papers_cosine():
    """Unnormalised dot products of long vectors give peaked softmaxes; cosine at T = 1 cannot."""
    torch.manual_seed(6)
    queries, items = torch.randn(2, 32, 256), torch.randn(100, 256) / 4
    kept_cosine = (address(queries, items) > 0).float().sum(-1)
    kept_dot = (address(queries, items, addressing="dot-shrink") > 0).float().sum(-1)
    assert kept_cosine.min() > 25  # the 1/N rule keeps a large share of the 100 items
    assert kept_dot.mean() < kept_cosine.mean() / 4


def test_unknown_addressing_is_a_clear_error():
    with pytest.raises(ValueError, match="addressing must be one of"):
        BlockMemory(shape=(4, 8, 8), rates=(2, 2, 1), addressing="l2")


def test_pixelwise_case_is_memae_memory():
    """r_h = H, r_w = W, r_c = 1: every pixel's C-vector is one query of dimension C."""
    torch.manual_seed(1)
    memory = BlockMemory(shape=(6, 4, 4), rates=(4, 4, 1), num_items=5)
    x = torch.randn(3, 6, 4, 4)
    out, weights = memory(x)
    assert memory.block_dim == 6 and weights.shape == (3, 16, 5)
    pixel = x[1, :, 2, 3]  # the query of block (row 2, col 3)
    cos = torch.nn.functional.cosine_similarity(pixel[None], memory.items, dim=1)
    w = torch.softmax(cos, 0)
    w = torch.where(w >= 1 / 5, w, 0.0)
    torch.testing.assert_close(out[1, :, 2, 3], (w / w.sum()) @ memory.items)


def test_divide_then_assemble_is_identity():
    x = torch.randn(2, 8, 12, 6)
    for rates in [(1, 1, 1), (3, 2, 4), (12, 6, 8), (4, 3, 2)]:
        blocks = divide(x, rates)
        assert blocks.shape == (2, math.prod(rates), 8 * 12 * 6 // math.prod(rates))
        torch.testing.assert_close(assemble(blocks, (8, 12, 6), rates), x)


def test_weights_sum_to_one_and_none_below_one_over_n():
    torch.manual_seed(2)
    memory = BlockMemory(shape=(8, 8, 8), rates=(4, 4, 1), num_items=50)
    _, weights = memory(torch.randn(4, 8, 8, 8))
    torch.testing.assert_close(weights.sum(-1), torch.ones(4, 16))
    positive = weights[weights > 0]
    assert positive.min() >= 1 / 50
    assert (weights == 0).any(), "the 1/N rule should drop some items"


def test_all_zero_row_is_guarded():
    """Identical items give exactly uniform weights; rounding must not empty the row."""
    items = torch.ones(3, 4)
    weights = address(torch.randn(2, 5, 4), items)
    assert torch.isfinite(weights).all()
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 5))


def test_lower_temperature_is_sparser():
    torch.manual_seed(3)
    queries, items = torch.randn(1, 64, 16), torch.randn(100, 16)
    kept_paper = (address(queries, items, 1.0) > 0).float().sum(-1).mean()
    kept_sharp = (address(queries, items, 0.05) > 0).float().sum(-1).mean()
    assert kept_sharp < kept_paper


def test_gradients_reach_items_and_input():
    torch.manual_seed(4)
    memory = BlockMemory(shape=(4, 8, 8), rates=(2, 2, 1), num_items=10)
    x = torch.randn(2, 4, 8, 8, requires_grad=True)
    out, _ = memory(x)
    out.pow(2).sum().backward()
    assert memory.items.grad is not None and memory.items.grad.abs().sum() > 0
    assert x.grad is not None and x.grad.abs().sum() > 0


@pytest.mark.parametrize("rates", [(3, 1, 1), (1, 5, 1), (1, 1, 3), (0, 1, 1)])
def test_bad_rates_raise_value_error_naming_shape(rates):
    with pytest.raises(ValueError, match=r"\(4, 8, 8\)"):
        BlockMemory(shape=(4, 8, 8), rates=rates)


def test_wrong_input_shape_is_a_clear_error():
    memory = BlockMemory(shape=(4, 8, 8), rates=(2, 2, 1), num_items=3)
    with pytest.raises(ValueError, match="built for"):
        memory(torch.randn(1, 4, 16, 16))


def autograd_read(queries, items, temperature, drop_threshold):
    """The slow reference for CosineRead: Eq. 1, the 1/N rule and Eq. 2 through autograd."""
    weights = address(queries, items, temperature, "cosine", drop_threshold)
    return weights @ items, weights


@pytest.mark.parametrize("temperature, drop_threshold", [(1.0, 1 / 9), (0.1, 1 / 9), (0.5, 0.6)])
def test_fast_cosine_read_matches_autograd_in_values_and_gradients(temperature, drop_threshold):
    """The hand-written backward of CosineRead gives autograd's gradients for queries and items,
    through both outputs (the entropy loss reads the weights), including an all-zero query and,
    with drop_threshold 0.6, rows where the rule keeps nothing (their softmax passes through)."""
    from daad_lib.memory import CosineRead
    torch.manual_seed(0)
    queries = torch.randn(12, 20, dtype=torch.float64)
    queries[3] = 0.0
    items = torch.randn(9, 20, dtype=torch.float64)
    grad_read, grad_weights = torch.randn(12, 20, dtype=torch.float64), torch.randn(12, 9, dtype=torch.float64)
    results = []
    for read_fn in (autograd_read, CosineRead.apply):
        q, m = queries.clone().requires_grad_(), items.clone().requires_grad_()
        read, weights = read_fn(q, m, temperature, drop_threshold)
        torch.autograd.backward([read, weights], [grad_read, grad_weights])
        results.append((read.detach(), weights.detach(), q.grad, m.grad))
    if drop_threshold > 0.5:
        assert (results[0][1].max(dim=1).values < drop_threshold).any(), "no row kept nothing"
    for reference, fast in zip(*results):
        torch.testing.assert_close(fast, reference, rtol=1e-10, atol=1e-12)


def test_block_memory_takes_the_fast_read_for_cosine_also_under_autocast():
    from daad_lib.memory import autocast_dtype, uses_fast_read
    x = torch.randn(2, 4, 8, 8)
    assert uses_fast_read(BlockMemory((4, 8, 8), (2, 2, 1), 5), x)
    assert not uses_fast_read(BlockMemory((4, 8, 8), (2, 2, 1), 5, addressing="dot-shrink"), x)
    assert autocast_dtype(x) is None
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert uses_fast_read(BlockMemory((4, 8, 8), (2, 2, 1), 5), x)
        assert autocast_dtype(x) == torch.bfloat16


def test_fast_read_under_bf16_autocast_is_as_close_to_float64_as_autograds():
    """Under CPU bf16 autocast the fused read (bf16 matmuls, the rest fp32) and autograd's path
    (autocast's own casts) give the same dtypes, and their values and gradients are as close to
    the float64 read of the same bf16-rounded inputs as each other: neither loses more precision."""
    import daad_lib.memory as memory
    torch.manual_seed(0)
    block = BlockMemory((8, 8, 8), (2, 2, 1), num_items=30, temperature=0.1)
    features = torch.randn(4, 8, 8, 8).bfloat16().float()  # bf16-exact, as a conv under autocast gives
    block.items.data = block.items.data.bfloat16().float()
    grad_out = torch.randn(4, 8, 8, 8)
    grad_weights = torch.randn(4, 4, 30)

    def run(fast: bool, dtype=None):
        model = BlockMemory((8, 8, 8), (2, 2, 1), num_items=30, temperature=0.1)
        model.items.data = block.items.data.clone().to(dtype or torch.float32)
        x = features.clone().to(dtype or torch.float32).requires_grad_()
        original = memory.uses_fast_read
        memory.uses_fast_read = original if fast else (lambda module, f: False)
        try:
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype is None):
                out, weights = model(x if dtype else x.bfloat16())
            torch.autograd.backward([out, weights], [grad_out.to(out.dtype), grad_weights.to(weights.dtype)])
        finally:
            memory.uses_fast_read = original
        return out, weights, x.grad, model.items.grad

    exact = run(False, torch.float64)  # autograd outside autocast, in float64: the slow reference
    fused, slow = run(True), run(False)
    for fast_t, slow_t in zip(fused, slow):
        assert fast_t.dtype == slow_t.dtype
    for name, reference, fast_t, slow_t in zip(("read", "weights", "grad queries", "grad items"), exact, fused, slow):
        error_fast = (fast_t.detach().double() - reference.detach()).norm() / reference.detach().norm()
        error_slow = (slow_t.detach().double() - reference.detach()).norm() / reference.detach().norm()
        assert error_fast < 0.03, (name, error_fast)
        assert error_fast <= 2 * error_slow + 1e-3, (name, float(error_fast), float(error_slow))
