"""One configuration for the whole model family, and the presets of Table 3.

The paper (Sec. 4.1) fixes the training recipe but not the widths or depth of
the networks. Our choices, used everywhere unless overridden:

* encoder: four stride-2 stages, so the bottleneck is downsampled 16x like the
  paper's AE (Fig. 2); widths from :func:`default_widths`;
* one BlockMemory per encoder->decoder connection, the same rates at every scale,
  rates from :func:`block_rates` (a block covers the same 32 x 32 image pixels as
  the paper's r = 8 at 256 px, whatever the image size);
* discriminator: DCGAN (Radford et al. 2016), stride-2 stages down to 4x4.

``build_model(variant, image_size=S, channels=C)`` therefore works for any S that
is a multiple of 16 without the user choosing rates or widths.

Presets (Table 3 and Fig. 2):

=============  =====  ===========================  =============
variant        skips  memory                       discriminator
=============  =====  ===========================  =============
``ae``         no     none                         no
``memae``      no     pixel-wise, bottleneck only  no
``ae_skip``    yes    none                         no
``memae_skip`` yes    pixel-wise, every scale      no
``daad``       yes    block-wise, every scale      no
``daad_plus``  yes    block-wise, every scale      yes (L_adv, L_ali, gamma=0.9)
=============  =====  ===========================  =============

Block-wise rates are (S/32, S/32, 1): the paper's (8, 8, 1) at 256 px, (4, 4, 1) at 128 px.

One published baseline has a network of its own (``network="dcae"``, preset ``dcae``): the
convolutional autoencoder of Deep SVDD (Ruff et al. 2018), 5 x 5 convolutions with max-pooling
and a dense code of ``code_size`` values (:class:`daad_lib.networks.DCAEGenerator`), used to
check our pipeline against that paper's DCAE numbers (``results/dcae/recipe.md``).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

from .memory import ADDRESSING, check_rates

MEMORY_PLACES = ("none", "bottleneck", "all")
NETWORKS = ("daad", "dcae")  # the family's encoder/decoder (networks.Generator), Deep SVDD's DCAE
# The DCAE's decoder (networks.DCAEGenerator): "deep-svdd" as Deep SVDD's build_autoencoder (the
# code reshaped to (code_size/16, 4, 4), then convolution-then-upsampling); "dense", our first
# translation (a dense layer back to the last feature map, then upsampling-then-convolution), kept
# so that the runs made with it load and reproduce (results/dcae/observations.md, H5).
DCAE_DECODERS = ("deep-svdd", "dense")
DEPTH = 4  # stride-2 stages: 16x downsampling, as the paper's AE (Fig. 2)
PAPER_IMAGE_SIZE, PAPER_RATE = 256, 8  # Sec. 4.1
BLOCK_PIXELS = PAPER_IMAGE_SIZE // PAPER_RATE  # 32: the image pixels a block spans in the paper
MAX_IMAGE_SIZE = 4096  # beyond this a single image's activations exceed any machine's memory


def block_rates(image_size: int, depth: int = DEPTH) -> tuple[int, int, int]:
    """Division rates that keep the paper's block size: a block spans BLOCK_PIXELS = 32 image
    pixels (at every scale, since the rates are shared), as (8, 8, 1) does at 256 px.

    Rates count blocks, so a fixed (8, 8, 1) would halve the block, in feature pixels, each
    time the image size halves. The rate must also divide the bottleneck (S/16): we take the
    largest divisor of S/16 that is at most S/32.

    >>> block_rates(256), block_rates(128), block_rates(64), block_rates(32)
    ((8, 8, 1), (4, 4, 1), (2, 2, 1), (1, 1, 1))
    """
    bottleneck = max(1, image_size >> depth)
    target = max(1, image_size // BLOCK_PIXELS)
    rate = max(d for d in range(1, bottleneck + 1) if bottleneck % d == 0 and d <= target)
    return (rate, rate, 1)


def default_widths(image_size: int, channels: int = 3) -> tuple[int, ...]:
    """Encoder widths (32, 64, 128, w): the last width w sets the size of the bottleneck.

    * The paper-scale AE, (32, 64, 128, 256) on 3 x 256 x 256 images, keeps a third of the input's
      values in its 16 x 16 x 256 bottleneck. Grey images have a third of the values, so they get
      w = 64 (a quarter) instead of 256 (all of them: an AE could learn to copy its input).
    * Below 64 px the bottleneck is also capped at 128 values, the size of the latent codes of
      Table 2's reconstruction baselines (GANomaly: 100): at 32 px, 2 x 2 x 32. With 256 channels
      a 32 px MNIST digit would have a 2 x 2 x 256 = 1,024-value code for its 1,024 pixels.

    >>> default_widths(256), default_widths(256, channels=1), default_widths(32), default_widths(32, 1)
    ((32, 64, 128, 256), (32, 64, 128, 64), (32, 64, 128, 32), (32, 64, 128, 32))
    """
    last = 256 if channels == 3 else 64
    bottleneck_pixels = max(1, image_size >> DEPTH) ** 2
    if image_size < 64:
        last = min(last, max(1, 128 // bottleneck_pixels))
    return (32, 64, 128, last)


def dcae_widths(channels: int) -> tuple[tuple[int, ...], int]:
    """Deep SVDD's DCAE (Ruff et al. 2018, its code's ``build_autoencoder``): convolution widths
    and the dense code's size, (8, 4) and 32 for grey MNIST, (32, 64, 128) and 128 for colour
    CIFAR-10.

    >>> dcae_widths(1), dcae_widths(3)
    (((8, 4), 32), ((32, 64, 128), 128))
    """
    return ((8, 4), 32) if channels == 1 else ((32, 64, 128), 128)


BLOCK_RATES = "block"  # rates from block_rates(image_size): the default, and in a preset
MEMORYLESS_RATES = (PAPER_RATE, PAPER_RATE, 1)  # recorded by models without a memory (unused)


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a model; stored in every checkpoint.

    The fields that depend on the image size have one source, :meth:`__post_init__`, whether
    the config is built directly or by :func:`make_config`: ``widths=None`` becomes
    :func:`default_widths`, ``rates="block"`` becomes :func:`block_rates` for a model with a
    memory (and the paper's unused (8, 8, 1) for one without, as every stored record of such a
    model holds). ``rates=None`` means pixel-wise memory (r_h = H, r_w = W, r_c = 1 at each
    scale), which is MemAE's memory.

    >>> ModelConfig(image_size=128) == make_config("daad", image_size=128)
    True
    >>> ModelConfig(image_size=128).rates, ModelConfig(image_size=128, memory="none").rates
    ((4, 4, 1), (8, 8, 1))
    """

    variant: str = "daad"
    image_size: int = PAPER_IMAGE_SIZE
    channels: int = 3
    widths: tuple[int, ...] | None = None  # None: default_widths(image_size, channels)
    skips: bool = True
    memory: str = "all"  # where memories sit: "none", "bottleneck" or "all" connections
    rates: tuple[int, int, int] | str | None = BLOCK_RATES  # "block": block_rates; None: pixel-wise
    num_items: int = 500
    temperature: float = 1.0
    addressing: str = "cosine"  # "cosine" (the paper, Eq. 1) or "dot-shrink" (MemAE)
    drop_threshold: float | None = None  # weights below it are dropped (or shrunk); None = 1/N
    lambda_entropy: float = 0.0  # weight of MemAE's entropy loss on the addressing weights
    discriminator: bool = False
    adv_loss: bool = False  # generator's adversarial term L_adv (Eq. 5)
    ali_loss: bool = False  # generator's alignment term L_ali (Eq. 6)
    lambda_rec: float = 50.0
    lambda_adv: float = 0.5
    lambda_ali: float = 0.5
    gamma: float = 1.0  # weight of R(x) in A(x) (Eq. 7); 1 without a discriminator
    lr: float = 1e-4
    network: str = "daad"  # "daad": networks.Generator; "dcae": Deep SVDD's DCAE (a baseline)
    code_size: int | None = None  # the DCAE's dense code; None: dcae_widths(channels)
    dcae_decoder: str | None = None  # network "dcae": DCAE_DECODERS; None: "deep-svdd"

    def __post_init__(self):
        # JSON and checkpoints store tuples as lists: normalise them back.
        if self.network == "dcae":
            widths, code_size = dcae_widths(self.channels)
            object.__setattr__(self, "code_size", int(code_size if self.code_size is None else self.code_size))
            object.__setattr__(self, "dcae_decoder", self.dcae_decoder or DCAE_DECODERS[0])
        else:
            widths = default_widths(self.image_size, self.channels)
        widths = widths if self.widths is None else self.widths
        object.__setattr__(self, "widths", tuple(int(w) for w in widths))
        rates = self.rates
        if rates == BLOCK_RATES:  # a bad image size is reported by validate()
            rates = MEMORYLESS_RATES if self.memory == "none" else block_rates(self.image_size, len(self.widths))
        object.__setattr__(self, "rates", None if rates is None else tuple(int(r) for r in rates))
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
        values = dict(values)
        if "threshold" in values:  # checkpoints written before the field was renamed
            values["drop_threshold"] = values.pop("threshold")
        if values.get("network") == "dcae" and "dcae_decoder" not in values:
            values["dcae_decoder"] = "dense"  # written before the field: the first translation's decoder
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown model config keys {sorted(unknown)}")
        return cls(**values)


def dcae_upsamplings(image_size: int) -> int:
    """How many 2x upsamplings take Deep SVDD's 4 x 4 code map to ``image_size``: 3 at 32 px."""
    return (image_size // 4).bit_length() - 1


def check_deep_svdd_decoder(config: ModelConfig) -> None:
    """Deep SVDD's decoder reshapes the code to (code_size/16, 4, 4) and upsamples it by 2 to the
    image size, once per encoder stage or more (its MNIST network upsamples once before its first
    convolution)."""
    if config.code_size % 16:
        raise ValueError(f"code_size {config.code_size} is not a multiple of 16: Deep SVDD's decoder "
                         "reshapes the code to (code_size / 16, 4, 4)")
    upsamplings = dcae_upsamplings(config.image_size)
    if upsamplings < config.depth or 4 << upsamplings != config.image_size:  # depth >= 1: no negative shift
        raise ValueError(f"image size {config.image_size} is not 4 x 2^k with k >= {config.depth}: Deep SVDD's "
                         "decoder doubles a 4 x 4 map up to the image (32 px for MNIST and CIFAR-10)")


def validate(config: ModelConfig) -> None:
    """Clear, early errors for configurations no network can be built from."""
    if config.network not in NETWORKS:
        raise ValueError(f"network must be one of {NETWORKS}, got {config.network!r}")
    if config.network == "dcae" and (config.memory != "none" or config.skips or config.discriminator):
        raise ValueError("network 'dcae' (Deep SVDD's autoencoder) has no memory, skips or discriminator: "
                         "use memory='none', skips=False, discriminator=False")
    if config.network != "dcae" and config.code_size is not None:
        raise ValueError("code_size is the size of the DCAE's dense code: it needs network='dcae'")
    if config.network != "dcae" and config.dcae_decoder is not None:
        raise ValueError("dcae_decoder is the DCAE's decoder: it needs network='dcae'")
    if config.network == "dcae" and config.dcae_decoder not in DCAE_DECODERS:
        raise ValueError(f"dcae_decoder must be one of {DCAE_DECODERS}, got {config.dcae_decoder!r}")
    if config.code_size is not None and config.code_size < 1:
        raise ValueError(f"code_size must be a positive integer, got {config.code_size}")
    if config.dcae_decoder == "deep-svdd":
        check_deep_svdd_decoder(config)
    if config.memory not in MEMORY_PLACES:
        raise ValueError(f"memory must be one of {MEMORY_PLACES}, got {config.memory!r}")
    if config.addressing not in ADDRESSING:
        raise ValueError(f"addressing must be one of {ADDRESSING}, got {config.addressing!r}")
    if config.drop_threshold is not None and not 0 <= config.drop_threshold < 1:
        raise ValueError(f"drop_threshold must lie in [0, 1), got {config.drop_threshold}")
    if config.channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {config.channels}")
    factor = 2 ** config.depth
    if config.image_size > MAX_IMAGE_SIZE:
        raise ValueError(f"image size {config.image_size} is larger than {MAX_IMAGE_SIZE} px: one such image "
                         f"would need gigabytes of activations; resize the images (the paper uses 256 px)")
    if config.image_size < factor or config.image_size % factor:
        raise ValueError(
            f"image size {config.image_size} is not a positive multiple of {factor}: the encoder has "
            f"{config.depth} stride-2 stages (widths {config.widths}), so the image size must be "
            f"divisible by 2**{config.depth} = {factor}")
    if config.rates is not None and (len(config.rates) != 3 or min(config.rates) < 1):
        raise ValueError(f"rates (r_h, r_w, r_c) must be three positive integers, got {config.rates}")
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
    "daad": dict(skips=True, memory="all", rates=BLOCK_RATES),
    "daad_plus": dict(skips=True, memory="all", rates=BLOCK_RATES, discriminator=True,
                      adv_loss=True, ali_loss=True, gamma=0.9, lr=2e-4),
    "dcae": dict(network="dcae", skips=False, memory="none"),  # Deep SVDD's DCAE (a baseline)
}


def make_config(variant: str, **overrides) -> ModelConfig:
    """The preset ``variant`` (see PRESETS) with ``overrides`` applied; widths and block-wise
    rates follow the image size (:func:`default_widths`, :func:`block_rates`, resolved by
    :class:`ModelConfig` itself) unless given.

    >>> make_config("daad", image_size=128).rates
    (4, 4, 1)
    >>> make_config("daad", image_size=32, channels=1).widths
    (32, 64, 128, 32)
    >>> make_config("ae", image_size=128, channels=1).widths
    (32, 64, 128, 64)
    >>> make_config("ae").memory_scales()
    []
    """
    if variant not in PRESETS:
        raise ValueError(f"unknown model {variant!r}; choose one of {sorted(PRESETS)}")
    return ModelConfig(variant=variant, **{**PRESETS[variant], **overrides})


def with_changes(config: ModelConfig, **changes) -> ModelConfig:
    """A copy of ``config`` with some fields changed (validated again)."""
    return replace(config, **changes)
