"""Training losses of Sec. 3.2: L = λ_rec L_rec + λ_adv L_adv + λ_ali L_ali (Eq. 3)."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def reconstruction_loss(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """L_rec (Eq. 4): the L2 distance, as the mean squared error over pixels."""
    return F.mse_loss(x_hat, x)


def alignment_loss(features_real: torch.Tensor, features_fake: torch.Tensor) -> torch.Tensor:
    """L_ali (Eq. 6): L2 distance between discriminator features f_D(x) and f_D(x̂)."""
    return F.mse_loss(features_fake, features_real)


def generator_adversarial_loss(logits_fake: torch.Tensor) -> torch.Tensor:
    """The generator's side of L_adv (Eq. 5), in the usual non-saturating form:
    make D call the reconstruction real."""
    return F.binary_cross_entropy_with_logits(logits_fake, torch.ones_like(logits_fake))


def discriminator_loss(logits_real: torch.Tensor, logits_fake: torch.Tensor) -> torch.Tensor:
    """The discriminator's side of L_adv (Eq. 5): real x -> 1, reconstruction x̂ -> 0."""
    real = F.binary_cross_entropy_with_logits(logits_real, torch.ones_like(logits_real))
    fake = F.binary_cross_entropy_with_logits(logits_fake, torch.zeros_like(logits_fake))
    return real + fake
