"""The networks of DAAD: the memory-augmented generator (Fig. 3) and the DCGAN
discriminator (Fig. 4).

Generator, for ``widths = (w1, ..., wL)`` and input (B, C, S, S)::

    x ──conv↓──> f1 ──conv↓──> f2 ... ──conv↓──> fL          encoder G_E
                  │            │                   │
               memory1      memory2             memoryL       BlockMemory per scale
                  │            │                   │
    x̂ <──conv↑── [·,f̂1] <──── [·,f̂2] ... <─conv↑── f̂L        decoder G_D

Without skips only f̂L reaches the decoder (a plain bow-tie AE); without a
memory at a scale, f̂ = f.
"""
from __future__ import annotations

import torch
from torch import nn

from .config import ModelConfig, dcae_upsamplings
from .memory import BlockMemory


def down(in_ch: int, out_ch: int, norm: bool = True) -> nn.Sequential:
    """4x4 stride-2 convolution: halves H and W."""
    layers = [nn.Conv2d(in_ch, out_ch, 4, stride=2, padding=1, bias=not norm)]
    if norm:
        layers.append(nn.BatchNorm2d(out_ch))
    layers.append(nn.LeakyReLU(0.2, inplace=True))
    return nn.Sequential(*layers)


def up(in_ch: int, out_ch: int, last: bool = False) -> nn.Sequential:
    """4x4 stride-2 transposed convolution: doubles H and W (tanh on the last layer)."""
    if last:
        return nn.Sequential(nn.ConvTranspose2d(in_ch, out_ch, 4, stride=2, padding=1), nn.Tanh())
    return nn.Sequential(nn.ConvTranspose2d(in_ch, out_ch, 4, stride=2, padding=1, bias=False),
                         nn.BatchNorm2d(out_ch), nn.ReLU(inplace=True))


class Generator(nn.Module):
    """Encoder/decoder with optional UNet skips and a BlockMemory on chosen connections.

    ``forward(x)`` returns the reconstruction (B, C, S, S) in [-1, 1] and a dict
    ``{scale: weights (B, Q, N)}`` with the addressing weights of every memory.
    """

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        widths = config.widths
        self.encoder = nn.ModuleList(
            down(config.channels if i == 0 else widths[i - 1], widths[i], norm=i > 0)
            for i in range(config.depth))
        shapes = config.feature_shapes()
        self.memories = nn.ModuleDict({
            str(s): BlockMemory(shapes[s], config.rates_at(s), config.num_items, config.temperature,
                                config.addressing, config.drop_threshold)
            for s in config.memory_scales()})
        # decoder[i] upsamples scale i to scale i-1; its input carries the skip from scale i.
        self.decoder = nn.ModuleList()
        for i in range(config.depth):
            has_skip = config.skips and i < config.depth - 1
            in_ch = widths[i] * (2 if has_skip else 1)
            out_ch = config.channels if i == 0 else widths[i - 1]
            self.decoder.append(up(in_ch, out_ch, last=i == 0))

    def connect(self, scale: int, features: torch.Tensor, weights: dict) -> torch.Tensor:
        """Pass an encoder map through its scale's memory (if any)."""
        key = str(scale)
        if key not in self.memories:
            return features
        read, weights[scale] = self.memories[key](features)
        return read

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[int, torch.Tensor]]:
        features = []
        h = x
        for stage in self.encoder:
            h = stage(h)
            features.append(h)  # scale i: (B, widths[i], S/2^(i+1), S/2^(i+1))
        weights: dict[int, torch.Tensor] = {}
        bottom = self.config.depth - 1
        h = self.connect(bottom, features[bottom], weights)
        for i in reversed(range(self.config.depth)):
            if i < bottom and self.config.skips:
                skip = self.connect(i, features[i], weights)
                h = torch.cat([h, skip], dim=1)  # (B, 2*widths[i], ...)
            h = self.decoder[i](h)
        return h, weights


class DCAEGenerator(nn.Module):
    """Deep SVDD's convolutional autoencoder, DCAE (Ruff et al., ICML 2018, Sec. 4.1; the
    network of its code's ``build_autoencoder``), the published AE our pipeline is checked
    against (``results/dcae/recipe.md``).

    Encoder: per width, a 5 x 5 convolution without bias, batch norm, leaky ReLU (0.01) and 2 x 2
    max-pool; then a dense layer without bias to a code of ``config.code_size`` values.

    Decoder, ``dcae_decoder="deep-svdd"`` (Deep SVDD's): the code reshaped to
    (code_size / 16, 4, 4) and a leaky ReLU; 2x nearest upsamplings until one is left per width
    (its MNIST network has one to spare); then per width, widest first, a 5 x 5 convolution, batch
    norm, leaky ReLU and a 2x upsampling; a last 5 x 5 convolution to the image's channels (with
    batch norm on colour images, as its CIFAR-10 network) and tanh for our [-1, 1] images
    (Deep SVDD's sigmoid on [0, 1] data; tanh(z) = 2 sigmoid(2z) - 1).

    ``dcae_decoder="dense"``: our first translation, kept so that its runs load and reproduce: a
    dense layer back to the last feature map, then per width an upsampling and a convolution.
    No memory: ``forward`` returns (x_hat, {}).

    >>> from daad_lib.config import make_config
    >>> generator = DCAEGenerator(make_config("dcae", image_size=32, channels=3))
    >>> x_hat, weights = generator(torch.zeros(2, 3, 32, 32))
    >>> x_hat.shape, weights, generator.code.out_features
    (torch.Size([2, 3, 32, 32]), {}, 128)
    """

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        stages, in_ch = [], config.channels
        for width in config.widths:
            stages += [nn.Conv2d(in_ch, width, 5, padding=2, bias=False), nn.BatchNorm2d(width),
                       nn.LeakyReLU(0.01, inplace=True), nn.MaxPool2d(2)]
            in_ch = width
        self.encoder = nn.Sequential(*stages)
        side = config.image_size >> config.depth
        self.code = nn.Linear(config.widths[-1] * side * side, config.code_size, bias=False)
        if config.dcae_decoder == "dense":
            self.bottom_shape = (config.widths[-1], side, side)  # the last feature map (C, S/2^d, S/2^d)
            self.expand = nn.Linear(config.code_size, config.widths[-1] * side * side, bias=False)
            self.decoder = self.dense_decoder()
        else:
            self.bottom_shape = (config.code_size // 16, 4, 4)  # the code itself, as a map
            self.decoder = self.deep_svdd_decoder()
        self.memories = nn.ModuleDict()  # none; kept so code that lists a generator's memories works

    def deep_svdd_decoder(self) -> nn.Sequential:
        """(code_size/16, 4, 4) -> (C, S, S): Deep SVDD's convolution-then-upsampling stages."""
        config, up = self.config, lambda: nn.Upsample(scale_factor=2, mode="nearest")
        stages = [up() for _ in range(dcae_upsamplings(config.image_size) - config.depth)]
        in_ch = self.bottom_shape[0]
        for width in reversed(config.widths):
            stages += [nn.Conv2d(in_ch, width, 5, padding=2, bias=False), nn.BatchNorm2d(width),
                       nn.LeakyReLU(0.01, inplace=True), up()]
            in_ch = width
        stages.append(nn.Conv2d(in_ch, config.channels, 5, padding=2, bias=False))
        if config.channels == 3:  # its CIFAR-10 network normalises the last convolution; its MNIST one does not
            stages.append(nn.BatchNorm2d(config.channels))
        return nn.Sequential(*stages, nn.Tanh())

    def dense_decoder(self) -> nn.Sequential:
        """(widths[-1], s, s) -> (C, S, S): the first translation's upsampling-then-convolution stages."""
        widths, stages = self.config.widths, []
        outs = list(reversed(widths[:-1])) + [self.config.channels]
        for i, (in_ch, out_ch) in enumerate(zip(reversed(widths), outs)):
            last = i == len(widths) - 1
            stages += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(in_ch, out_ch, 5, padding=2, bias=last)]
            stages += [nn.Tanh()] if last else [nn.BatchNorm2d(out_ch), nn.LeakyReLU(0.01, inplace=True)]
        return nn.Sequential(*stages)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[int, torch.Tensor]]:
        features = self.encoder(x)  # (B, widths[-1], S/2^d, S/2^d)
        code = self.code(features.flatten(1))  # (B, code_size)
        if self.config.dcae_decoder == "dense":
            code = self.expand(code)  # (B, widths[-1] * s * s)
        h = nn.functional.leaky_relu(code, 0.01).view(-1, *self.bottom_shape)  # (B, C', s', s')
        return self.decoder(h), {}


class Discriminator(nn.Module):
    """DCGAN discriminator (Radford et al. 2016) used by DAAD+ (Sec. 3.1.3).

    Stride-2 stages halve the image down to 4x4; a final 4x4 convolution gives
    one logit. ``forward`` returns ``(logit (B,), features (B, F, 4, 4))``, the
    features being the output of the last convolutional stage before the
    classifier: f_D of Eq. 6 and L(x).
    """

    def __init__(self, config: ModelConfig):
        super().__init__()
        stages, size, in_ch = [], config.image_size, config.channels
        width = config.widths[0]
        while size > 4:
            stages.append(down(in_ch, width, norm=bool(stages)))
            in_ch, size, width = width, size // 2, min(width * 2, config.widths[-1] * 2)
        self.features = nn.Sequential(*stages)
        self.classifier = nn.Conv2d(in_ch, 1, 4)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.features(x)  # (B, F, 4, 4)
        return self.classifier(features).flatten(), features
