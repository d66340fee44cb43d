"""Training losses of Sec. 3.2: L = λ_rec L_rec + λ_adv L_adv + λ_ali L_ali (Eq. 3).

Eq. 4 and Eq. 6 write unsquared L2 norms; like most implementations we train with the
mean *squared* error, which has the same minimiser and smoother gradients near it.
MemAE's entropy loss on the addressing weights is an optional extra term.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def reconstruction_loss(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """L_rec (Eq. 4, an L2 norm in the paper), as the mean squared error over pixels."""
    return F.mse_loss(x_hat, x)


def alignment_loss(features_real: torch.Tensor, features_fake: torch.Tensor) -> torch.Tensor:
    """L_ali (Eq. 6, an L2 norm in the paper), as the mean squared difference of the
    discriminator features f_D(x) and f_D(x̂)."""
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


def addressing_entropy(weights: dict[int, torch.Tensor]) -> torch.Tensor:
    """MemAE's entropy loss (Gong et al. 2019, Eq. 10 there): the mean over scales and queries of
    -sum_i w_i log w_i, for the addressing weights {scale: (B, Q, N)} of the memories."""
    per_scale = [-(w * torch.log(w + 1e-12)).sum(dim=-1).mean() for w in weights.values()]
    return torch.stack(per_scale).mean()
