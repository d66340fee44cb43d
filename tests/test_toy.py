"""Fig. 1 in miniature: the block size decides what a memory can reconstruct."""
from __future__ import annotations

import torch

from daad_lib.data import Stripes
from daad_lib.metrics import image_auroc
from daad_lib.toy import fit_block_memory, reconstruction_errors


def test_medium_blocks_separate_and_pixel_blocks_reconstruct_everything():
    train = Stripes("train", 16, num_images=16, tile=8).images
    test = Stripes("test", 16, num_images=16, tile=8)
    labels = torch.tensor(test.labels)
    errors = {}
    for rate in (2, 16):  # 8x8-pixel blocks (the tile), single pixels
        memory = fit_block_memory(train, rate, num_items=16, steps=150)
        errors[rate] = reconstruction_errors(memory, test.images)[1]
    assert image_auroc(errors[2], labels) == 1.0
    assert errors[2][labels == 0].mean() < 0.05 < errors[2][labels == 1].mean()
    assert errors[16].max() < 0.01  # pixels: white and blue rebuild vertical stripes too
