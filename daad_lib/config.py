"""One configuration for the whole model family, and the presets of Table 3.

The paper (Sec. 4.1) fixes the training recipe but not the widths or depth of
the networks. Our choices, used everywhere unless overridden:

* encoder: ``len(widths)`` stride-2 stages, widths (32, 64, 128, 256), so the
  bottleneck is downsampled 16x like the paper's AE (Fig. 2);
* one BlockMemory per encoder->decoder connection, the same rates at every scale;
* discriminator: DCGAN (Radford et al. 2016), stride-2 stages down to 4x4.

Presets (Table 3 and Fig. 2):

=============  =====  ===========================  =============
variant        skips  memory                       discriminator
=============  =====  ===========================  =============
``ae``         no     none                         no
``memae``      no     pixel-wise, bottleneck only  no
``ae_skip``    yes    none                         no
``memae_skip`` yes    pixel-wise, every scale      no
``daad``       yes    block-wise (8, 8, 1), every  no
``daad_plus``  yes    block-wise (8, 8, 1), every  yes (L_adv, L_ali, gamma=0.9)
=============  =====  ===========================  =============
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

from .memory import check_rates

MEMORY_PLACES = ("none", "bottleneck", "all")


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a model; stored in every checkpoint.

    ``rates=None`` means pixel-wise memory (r_h = H, r_w = W, r_c = 1 at each scale),
    which is MemAE's memory.
    """

    variant: str = "daad"
    image_size: int = 256
    channels: int = 3
    widths: tuple[int, ...] = (32, 64, 128, 256)
    skips: bool = True
    memory: str = "all"  # where memories sit: "none", "bottleneck" or "all" connections
    rates: tuple[int, int, int] | None = (8, 8, 1)
    num_items: int = 500
    temperature: float = 1.0
    discriminator: bool = False
    adv_loss: bool = False  # generator's adversarial term L_adv (Eq. 5)
    ali_loss: bool = False  # generator's alignment term L_ali (Eq. 6)
    lambda_rec: float = 50.0
    lambda_adv: float = 0.5
    lambda_ali: float = 0.5
    gamma: float = 1.0  # weight of R(x) in A(x) (Eq. 7); 1 without a discriminator
    lr: float = 1e-4

    def __post_init__(self):
        # JSON and checkpoints store tuples as lists: normalise them back.
        object.__setattr__(self, "widths", tuple(int(w) for w in self.widths))
        if self.rates is not None:
            object.__setattr__(self, "rates", tuple(int(r) for r in self.rates))
        validate(self)

    @property
    def depth(self) -> int:
        return len(self.widths)

    def feature_shapes(self) -> list[tuple[int, int, int]]:
        """(C, H, W) of the encoder's output at each scale, finest first."""
        return [(width, self.image_size >> (i + 1), self.image_size >> (i + 1))
                for i, width in enumerate(self.widths)]

    def memory_scales(self) -> list[int]:
        """Indices of the scales (0 = finest) whose connection goes through a memory."""
        return {"none": [], "bottleneck": [self.depth - 1], "all": list(range(self.depth))}[self.memory]

    def rates_at(self, scale: int) -> tuple[int, int, int]:
        channels, height, width = self.feature_shapes()[scale]
        return (height, width, 1) if self.rates is None else self.rates

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "ModelConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown model config keys {sorted(unknown)}")
        return cls(**values)


def validate(config: ModelConfig) -> None:
    """Clear, early errors for configurations no network can be built from."""
    if config.memory not in MEMORY_PLACES:
        raise ValueError(f"memory must be one of {MEMORY_PLACES}, got {config.memory!r}")
    if config.channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {config.channels}")
    factor = 2 ** config.depth
    if config.image_size < factor or config.image_size % factor:
        raise ValueError(
            f"image size {config.image_size} is not a multiple of {factor}: the encoder has "
            f"{config.depth} stride-2 stages (widths {config.widths}), so the image size must be "
            f"divisible by 2**{config.depth} = {factor}")
    if config.rates is not None:
        for scale in config.memory_scales():
            try:
                check_rates(config.feature_shapes()[scale], config.rates)
            except ValueError as error:
                raise ValueError(
                    f"{error}; this is the feature map at scale {scale + 1} of a {config.image_size}px "
                    f"image: use an image size of at least {max(config.rates[:2]) * factor}px or "
                    f"smaller rates") from None
    if not 0.0 <= config.gamma <= 1.0:
        raise ValueError(f"gamma must lie in [0, 1], got {config.gamma}")
    if (config.adv_loss or config.ali_loss or config.gamma < 1.0) and not config.discriminator:
        raise ValueError("adv_loss, ali_loss and gamma < 1 need discriminator=True")


PRESETS: dict[str, dict] = {
    "ae": dict(skips=False, memory="none"),
    "memae": dict(skips=False, memory="bottleneck", rates=None),
    "ae_skip": dict(skips=True, memory="none"),
    "memae_skip": dict(skips=True, memory="all", rates=None),
    "daad": dict(skips=True, memory="all", rates=(8, 8, 1)),
    "daad_plus": dict(skips=True, memory="all", rates=(8, 8, 1), discriminator=True,
                      adv_loss=True, ali_loss=True, gamma=0.9, lr=2e-4),
}


def make_config(variant: str, **overrides) -> ModelConfig:
    """The preset ``variant`` (see PRESETS) with ``overrides`` applied.

    >>> make_config("daad", image_size=128).rates
    (8, 8, 1)
    >>> make_config("ae").memory_scales()
    []
    """
    if variant not in PRESETS:
        raise ValueError(f"unknown model {variant!r}; choose one of {sorted(PRESETS)}")
    values = {**PRESETS[variant], **overrides}
    return ModelConfig(variant=variant, **values)


def with_changes(config: ModelConfig, **changes) -> ModelConfig:
    """A copy of ``config`` with some fields changed (validated again)."""
    return replace(config, **changes)
