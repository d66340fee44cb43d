"""Block-wise memory: divide a feature map, address a memory bank, assemble (Sec. 3.1.2).

A feature map ``f`` of shape (B, C, H, W) is cut into ``Q = r_h * r_w * r_c``
equal blocks. Each block, of size (C/r_c) x (H/r_h) x (W/r_w), is flattened into
a query vector of length ``D``. Every query addresses the same bank of ``N``
learned memory items ``M`` (N, D):

* Eq. 1: ``w_i = softmax_i(cos(q, m_i) / T)`` (the paper uses T = 1);
* the paper's sparsity rule: weights below ``1/N`` are dropped and the rest
  renormalised, so only a few items are read;
* Eq. 2: ``q_hat = w M``, reshaped back into a block.

MemAE's own addressing (dot product, hard shrinkage, L1 renormalisation) is the
option ``addressing="dot-shrink"``; see :func:`address`.

The blocks are then assembled into a map of the original shape. MemAE's
pixel-wise memory (Gong et al., ICCV 2019) is the special case
``r_h = H, r_w = W, r_c = 1``: every pixel's C-vector is a query.

The memory is learned by back-propagation only, like MemAE: there is no
write rule.
"""
from __future__ import annotations

import math

import torch
from torch import nn


def check_rates(shape: tuple[int, int, int], rates: tuple[int, int, int]) -> None:
    """Raise a ValueError unless ``rates = (r_h, r_w, r_c)`` divide ``shape = (C, H, W)``."""
    channels, height, width = shape
    r_h, r_w, r_c = rates
    if min(rates) < 1 or height % r_h or width % r_w or channels % r_c:
        raise ValueError(
            f"division rates (r_h, r_w, r_c) = {tuple(rates)} do not divide a feature map of "
            f"(C, H, W) = {tuple(shape)}: need H % r_h == W % r_w == C % r_c == 0"
        )


def divide(features: torch.Tensor, rates: tuple[int, int, int]) -> torch.Tensor:
    """Cut (B, C, H, W) into Q = r_h*r_w*r_c flattened blocks: returns (B, Q, D).

    Blocks are ordered (channel group, row, column); inside a block the values
    are ordered (c, h, w), like ``block.flatten()`` of the (C/r_c, H/r_h, W/r_w) crop.
    """
    batch, channels, height, width = features.shape
    r_h, r_w, r_c = rates
    bc, bh, bw = channels // r_c, height // r_h, width // r_w
    blocks = features.reshape(batch, r_c, bc, r_h, bh, r_w, bw)  # (B, r_c, bc, r_h, bh, r_w, bw)
    blocks = blocks.permute(0, 1, 3, 5, 2, 4, 6)  # (B, r_c, r_h, r_w, bc, bh, bw)
    return blocks.reshape(batch, r_c * r_h * r_w, bc * bh * bw)  # (B, Q, D)


def assemble(blocks: torch.Tensor, shape: tuple[int, int, int], rates: tuple[int, int, int]) -> torch.Tensor:
    """Inverse of :func:`divide`: (B, Q, D) back to (B, C, H, W)."""
    channels, height, width = shape
    r_h, r_w, r_c = rates
    bc, bh, bw = channels // r_c, height // r_h, width // r_w
    batch = blocks.shape[0]
    grid = blocks.reshape(batch, r_c, r_h, r_w, bc, bh, bw)  # (B, r_c, r_h, r_w, bc, bh, bw)
    grid = grid.permute(0, 1, 4, 2, 5, 3, 6)  # (B, r_c, bc, r_h, bh, r_w, bw)
    return grid.reshape(batch, channels, height, width)  # (B, C, H, W)


ADDRESSING = ("cosine", "dot-shrink")


def similarity(queries: torch.Tensor, items: torch.Tensor, addressing: str = "cosine") -> torch.Tensor:
    """(B, Q, D) queries against (N, D) items -> (B, Q, N) similarities.

    ``"cosine"`` is Eq. 1's q·m / (|q| |m|); ``"dot-shrink"`` is MemAE's plain dot product q·m.
    """
    products = queries @ items.T  # (B, Q, N)
    if addressing == "dot-shrink":
        return products
    # cos(q, m) = q.m / (|q| |m|): dividing the (B, Q, N) products by the norms is cheaper
    # than normalising the (B, Q, D) queries and the (N, D) items first (D >> N / Q here).
    norms = queries.norm(dim=-1, keepdim=True) * items.norm(dim=-1)  # (B, Q, 1) * (N,) -> (B, Q, N)
    return products / norms.clamp_min(1e-8)


def address(queries: torch.Tensor, items: torch.Tensor, temperature: float = 1.0,
            addressing: str = "cosine", drop_threshold: float | None = None) -> torch.Tensor:
    """Addressing weights (B, Q, N) of (B, Q, D) queries over (N, D) items; each row sums to 1.

    * ``"cosine"`` (the paper): Eq. 1, w = softmax(cos(q, m) / T), then the paper's rule:
      weights below ``drop_threshold`` (default 1/N) are dropped and the rest renormalised
      (the renormalisation is ours: the paper only says the items are dropped).
    * ``"dot-shrink"`` (MemAE, Gong et al. 2019, Eq. 7 there): w = softmax(q·m / T), hard
      shrinkage w' = max(w - λ, 0) w / |w - λ| with λ = ``drop_threshold`` (default 1/N),
      then L1 renormalisation.
    """
    if addressing not in ADDRESSING:
        raise ValueError(f"addressing must be one of {ADDRESSING}, got {addressing!r}")
    num_items = items.shape[0]
    drop_threshold = 1.0 / num_items if drop_threshold is None else drop_threshold
    weights = torch.softmax(similarity(queries, items, addressing) / temperature, dim=-1)  # (B, Q, N)
    if addressing == "cosine":
        kept = weights * (weights >= drop_threshold)  # drop items below the drop_threshold
    else:
        shifted = weights - drop_threshold
        kept = torch.relu(shifted) * weights / (shifted.abs() + 1e-12)  # MemAE's hard shrinkage
    total = kept.sum(dim=-1, keepdim=True)  # (B, Q, 1)
    # With drop_threshold <= 1/N the largest of N weights that sum to 1 survives, so a row is never
    # empty in exact arithmetic; rounding (or a larger drop_threshold) can still empty one: keep it whole.
    return torch.where(total > 0, kept / total.clamp_min(1e-12), weights)


class CosineRead(torch.autograd.Function):
    """Eq. 1, the 1/N rule and Eq. 2 in one step with a hand-written backward (the fast path).

    Same values as ``address(q, M, T, "cosine", drop_threshold)`` followed by ``w @ M``; only the
    backward differs in how it is computed. Autograd's backward touches the (N, D) bank about a
    dozen times per step (two matmul gradients, their sum, the item norms' backward in several
    element-wise passes), and for a large bank (32 px images with whole-map blocks: N x D =
    500 x 8192 at the first scale) those passes, not the arithmetic, set the step time. Here the
    bank's gradient is one matmul over both of its uses plus one in-place pass:

        dL/dM = [dL/dP ; w]^T [q ; dL/dq_hat] + diag(g_|m| / |m|) M

    with P = q M^T the products and g_|m| the gradient reaching the item norms. Inputs are
    2-D: queries (B*Q, D), items (N, D); outputs read (B*Q, D) and weights (B*Q, N). Under
    autocast, ``matmul_dtype`` (bf16 or fp16) runs the matmuls in that dtype and the rest in fp32,
    as autocast runs the autograd path; the read comes out in that dtype, the weights in fp32.
    tests/test_memory.py checks values and gradients against the autograd path in float64.
    """

    @staticmethod
    def forward(ctx, queries, items, temperature: float, drop_threshold: float, matmul_dtype=None):
        # Under autocast (``matmul_dtype`` bf16 or fp16) the three matmuls of the step run in that
        # dtype and everything else in fp32, as autocast itself would run the autograd path.
        with torch.autocast(queries.device.type, enabled=False):
            low_items = items if matmul_dtype is None else items.to(matmul_dtype)  # (N, D)
            products = matmul(queries, low_items.T, matmul_dtype)  # (M, N), M = B*Q
            query_norms = (queries if matmul_dtype is None else queries.float()).norm(dim=1, keepdim=True)  # (M, 1)
            item_norms = items.norm(dim=1)  # (N,)
            denominators = query_norms * item_norms  # (M, N)
            clamped = denominators < 1e-8
            cosines = products / denominators.clamp_min(1e-8)  # (M, N), Eq. 1's cos(q, m)
            softmax = torch.softmax(cosines / temperature, dim=-1)  # (M, N)
            kept = softmax * (softmax >= drop_threshold)  # the 1/N rule
            total = kept.sum(dim=-1, keepdim=True)  # (M, 1)
            nonempty = total > 0
            weights = torch.where(nonempty, kept / total.clamp_min(1e-12), softmax)  # (M, N)
            read = weights @ items if matmul_dtype is None else weights.to(matmul_dtype) @ low_items  # (M, D), Eq. 2
        ctx.save_for_backward(queries, items, low_items, softmax, weights, total, nonempty, denominators,
                              clamped, cosines, query_norms, item_norms)
        ctx.temperature, ctx.drop_threshold, ctx.matmul_dtype = temperature, drop_threshold, matmul_dtype
        return read, weights

    @staticmethod
    def backward(ctx, grad_read, grad_weights):
        (queries, items, low_items, softmax, weights, total, nonempty, denominators, clamped, cosines,
         query_norms, item_norms) = ctx.saved_tensors
        low = ctx.matmul_dtype
        with torch.autocast(queries.device.type, enabled=False):
            grad_w = matmul(grad_read, low_items.T, low)  # (M, N), from Eq. 2
            if grad_weights is not None:
                grad_w = grad_w + grad_weights
            # renormalisation w = kept / total (rows that kept nothing pass softmax through)
            grad_kept = (grad_w - (grad_w * weights).sum(dim=-1, keepdim=True)) / total.clamp_min(1e-12)
            kept_mask = softmax >= ctx.drop_threshold
            grad_softmax = torch.where(nonempty, grad_kept * kept_mask, grad_w)  # (M, N)
            grad_logits = softmax * (grad_softmax - (grad_softmax * softmax).sum(dim=-1, keepdim=True))
            grad_cos = grad_logits / ctx.temperature  # (M, N)
            grad_products = grad_cos / denominators.clamp_min(1e-8)  # (M, N)
            grad_denominators = torch.where(clamped, 0.0, -grad_cos * cosines / denominators.clamp_min(1e-8))
            grad_query_norms = (grad_denominators * item_norms).sum(dim=1, keepdim=True)  # (M, 1)
            grad_item_norms = (grad_denominators * query_norms).sum(dim=0)  # (N,)
            # d|v|/dv = v / |v| (0 at v = 0, as torch's norm backward)
            query_scale = torch.where(query_norms > 0, grad_query_norms / query_norms, 0.0)  # (M, 1)
            item_scale = torch.where(item_norms > 0, grad_item_norms / item_norms, 0.0)  # (N,)
            grad_queries = torch.addcmul(matmul(grad_products, low_items, low), query_scale,
                                         queries if low is None else queries.float())  # (M, D)
            # both uses of the bank in one matmul; A is made contiguous: a transposed (N, 2M) view
            # sends the CPU's GEMM down a path several times slower for so small an inner size
            left = torch.cat([grad_products, weights], dim=0).T.contiguous()  # (N, 2M)
            right = torch.cat([queries.to(grad_read.dtype), grad_read], dim=0)  # (2M, D)
            grad_items = matmul(left, right, low).addcmul_(item_scale[:, None], items)  # (N, D), one (N, D) allocation
        return grad_queries.to(queries.dtype), grad_items, None, None, None


def matmul(a: torch.Tensor, b: torch.Tensor, dtype: torch.dtype | None) -> torch.Tensor:
    """``a @ b``; with ``dtype`` (autocast's bf16/fp16) computed in that dtype, returned in fp32."""
    return a @ b if dtype is None else (a.to(dtype) @ b.to(dtype)).float()


def autocast_dtype(features: torch.Tensor) -> torch.dtype | None:
    """The dtype autocast gives matmuls on ``features``' device, or None outside autocast."""
    device = features.device.type
    return torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else None


def uses_fast_read(memory: "BlockMemory", features: torch.Tensor) -> bool:
    """The fused :class:`CosineRead` serves the paper's cosine addressing, in fp32 and under
    autocast (its matmuls in autocast's dtype, the rest in fp32); MemAE's rule takes autograd's path."""
    return memory.addressing == "cosine"


class BlockMemory(nn.Module):
    """Block-wise memory module of DAAD (Hou et al., ICCV 2021, Sec. 3.1.2, Eq. 1-2).

    Args:
        shape: (C, H, W) of the feature maps this memory reads.
        rates: division rates (r_h, r_w, r_c); each must divide its dimension.
        num_items: N, the number of memory items (paper: 500).
        temperature: T in softmax(similarity / T). The paper uses T = 1 (plain cosine), which
            makes the weights nearly uniform; T < 1 is a labelled extension.
        addressing: ``"cosine"`` (the paper, Eq. 1) or ``"dot-shrink"`` (MemAE's rule).
        drop_threshold: the weight below which items are dropped (cosine) or shrunk away
            (dot-shrink); None means the paper's 1/N.

    Forward returns the assembled map (B, C, H, W) and the weights (B, Q, N).

    >>> memory = BlockMemory(shape=(16, 8, 8), rates=(4, 4, 1), num_items=50)
    >>> out, weights = memory(torch.randn(2, 16, 8, 8))
    >>> out.shape, weights.shape     # Q = 4*4*1 blocks of D = 16*2*2 values
    (torch.Size([2, 16, 8, 8]), torch.Size([2, 16, 50]))
    """

    def __init__(self, shape: tuple[int, int, int], rates: tuple[int, int, int],
                 num_items: int = 500, temperature: float = 1.0, addressing: str = "cosine",
                 drop_threshold: float | None = None):
        super().__init__()
        shape, rates = tuple(int(s) for s in shape), tuple(int(r) for r in rates)
        check_rates(shape, rates)
        if num_items < 1:
            raise ValueError(f"num_items must be positive, got {num_items}")
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        if addressing not in ADDRESSING:
            raise ValueError(f"addressing must be one of {ADDRESSING}, got {addressing!r}")
        self.shape, self.rates, self.temperature = shape, rates, float(temperature)
        self.addressing, self.drop_threshold = addressing, drop_threshold
        channels, height, width = shape
        r_h, r_w, r_c = rates
        self.block_dim = (channels // r_c) * (height // r_h) * (width // r_w)  # D
        self.num_blocks = r_h * r_w * r_c  # Q
        bound = 1.0 / math.sqrt(self.block_dim)  # MemAE's uniform initialisation
        self.items = nn.Parameter(torch.empty(num_items, self.block_dim).uniform_(-bound, bound))

    @property
    def num_items(self) -> int:
        return self.items.shape[0]

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if tuple(features.shape[1:]) != self.shape:
            raise ValueError(f"BlockMemory built for (C, H, W) = {self.shape} got a map of "
                             f"shape {tuple(features.shape)}")
        queries = divide(features, self.rates)  # (B, Q, D)
        if uses_fast_read(self, features):
            batch = queries.shape[0]
            drop_threshold = 1.0 / self.num_items if self.drop_threshold is None else self.drop_threshold
            read, weights = CosineRead.apply(queries.reshape(batch * self.num_blocks, self.block_dim), self.items,
                                             self.temperature, drop_threshold, autocast_dtype(features))  # (B*Q, D), (B*Q, N)
            read = read.reshape(batch, self.num_blocks, self.block_dim)  # (B, Q, D)
            weights = weights.reshape(batch, self.num_blocks, self.num_items)  # (B, Q, N)
        else:
            weights = address(queries, self.items, self.temperature, self.addressing, self.drop_threshold)  # (B, Q, N)
            read = weights @ self.items  # (B, Q, D), Eq. 2
        return assemble(read, self.shape, self.rates), weights

    def extra_repr(self) -> str:
        return (f"shape={self.shape}, rates={self.rates}, num_items={self.num_items}, "
                f"block_dim={self.block_dim}, temperature={self.temperature}, addressing={self.addressing!r}")
