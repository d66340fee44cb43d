"""The toy example of Fig. 1: learn block patterns straight from pixels.

A :class:`~daad_lib.memory.BlockMemory` applied to the image itself (no encoder,
no decoder) is the smallest divide-and-assemble model: every r_h x r_w block of
pixels is replaced by a mix of learned blocks. Fitting its items to normal
images and reconstructing new ones shows how the block size decides what can be
reconstructed.
"""
from __future__ import annotations

import torch

from .memory import BlockMemory, divide


def fit_block_memory(images: torch.Tensor, rate: int, num_items: int = 16, temperature: float = 0.05,
                     steps: int = 300, lr: float = 0.05, seed: int = 0) -> BlockMemory:
    """Learn ``num_items`` blocks that reconstruct ``images`` (B, C, H, W) through a BlockMemory
    with rates (rate, rate, 1), by gradient descent on the mean squared error."""
    torch.manual_seed(seed)
    memory = BlockMemory(tuple(images.shape[1:]), (rate, rate, 1), num_items, temperature)
    with torch.no_grad():  # start from random blocks of the data, a common k-means-like start
        blocks = divide(images, memory.rates).reshape(-1, memory.block_dim)  # (B*Q, D)
        chosen = blocks[torch.randint(len(blocks), (num_items,))]
        memory.items.copy_(chosen + 0.01 * torch.randn(num_items, memory.block_dim))
    optimizer = torch.optim.Adam(memory.parameters(), lr=lr)
    for _ in range(steps):
        out, _ = memory(images)
        loss = (out - images).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return memory


@torch.no_grad()
def reconstruction_errors(memory: BlockMemory, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Reconstructions (B, C, H, W) and per-image mean squared errors (B,)."""
    out, _ = memory(images)
    return out, (out - images).pow(2).flatten(1).mean(1)
