"""The losses of Eq. 3-6 and the alignment score of Eq. 7, against values worked out by hand."""
from __future__ import annotations

import math

import pytest
import torch

from daad_lib import losses
from daad_lib.models import build_model
from daad_lib.scoring import alignment_score, reconstruction_score
from daad_lib.train import generator_losses


def test_discriminator_loss_calls_real_images_one_and_reconstructions_zero():
    confident_right = losses.discriminator_loss(torch.tensor([10.0]), torch.tensor([-10.0]))
    confident_wrong = losses.discriminator_loss(torch.tensor([-10.0]), torch.tensor([10.0]))
    assert confident_right < 1e-3 < 19 < confident_wrong  # swapped labels would flip these
    # at logit 0 each term is log 2
    assert losses.discriminator_loss(torch.zeros(4), torch.zeros(4)).item() == pytest.approx(2 * math.log(2))


def test_generator_adversarial_loss_wants_its_reconstructions_called_real():
    assert losses.generator_adversarial_loss(torch.tensor([10.0])) < 1e-3
    assert losses.generator_adversarial_loss(torch.tensor([-10.0])).item() == pytest.approx(10.0, abs=1e-3)


def test_alignment_loss_is_the_mean_squared_feature_difference():
    real, fake = torch.tensor([[1.0, 2.0], [3.0, 4.0]]), torch.tensor([[1.0, 0.0], [3.0, 8.0]])
    assert losses.alignment_loss(real, fake).item() == pytest.approx((0 + 4 + 0 + 16) / 4)
    assert losses.reconstruction_loss(real, fake).item() == pytest.approx(5.0)


def test_scores_per_image_by_hand():
    x = torch.zeros(2, 1, 2, 2)
    x_hat = torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]], [[[2.0, 2.0], [2.0, 2.0]]]])
    assert reconstruction_score(x, x_hat).tolist() == [0.25, 4.0]  # mean over each image's pixels
    features_real = torch.tensor([[[[1.0]], [[1.0]]], [[[0.0]], [[0.0]]]])  # (B, F, 1, 1)
    features_fake = torch.tensor([[[[1.0]], [[3.0]]], [[[1.0]], [[0.0]]]])
    assert alignment_score(features_real, features_fake).tolist() == [2.0, 0.5]


def test_generator_total_is_the_weighted_sum_of_eq_3():
    torch.manual_seed(0)
    detector = build_model("daad_plus", image_size=32, widths=(8, 16), rates=(2, 2, 1), num_items=10)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    _, logged = generator_losses(detector, x)
    cfg = detector.config
    assert (cfg.lambda_rec, cfg.lambda_adv, cfg.lambda_ali) == (50.0, 0.5, 0.5)  # Sec. 4.1
    expected = 50 * logged["rec"] + 0.5 * logged["adv"] + 0.5 * logged["ali"]
    torch.testing.assert_close(logged["total"], expected)
    assert logged["ali"] > 0 and logged["adv"] > 0
