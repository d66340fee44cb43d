"""Every variant builds from one config and maps images to images of the same shape."""
from __future__ import annotations

import pytest
import torch

from daad_lib import PRESETS, build_model, make_config
from daad_lib.config import ModelConfig


def small(variant: str, size: int, channels: int):
    rates = {"rates": (2, 2, 1)} if variant in ("daad", "daad_plus") else {}
    widths = (8, 16, 16) if variant == "dcae" else (8, 16, 16, 32)  # Deep SVDD's decoder: k >= depth at 32 px
    return build_model(variant, image_size=size, channels=channels, widths=widths, num_items=20, **rates)


@pytest.mark.parametrize("variant", sorted(PRESETS))
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("size", [32, 64])
def test_every_variant_maps_images_to_images(variant, channels, size):
    detector = small(variant, size, channels)
    x = torch.rand(2, channels, size, size) * 2 - 1
    x_hat, weights = detector.generator(x)
    assert x_hat.shape == x.shape
    assert x_hat.abs().max() <= 1.0  # tanh output, the range of the inputs
    for scale, w in weights.items():
        assert w.shape[0] == 2 and w.shape[2] == 20


def test_memory_and_skip_layout_of_each_preset():
    depth = 4
    count = {v: len(small(v, 32, 3).generator.memories) for v in PRESETS}
    assert count == {"ae": 0, "memae": 1, "ae_skip": 0, "memae_skip": depth, "daad": depth,
                     "daad_plus": depth, "dcae": 0}
    assert not make_config("ae").skips and not make_config("memae").skips
    assert make_config("daad").skips and make_config("ae_skip").skips
    # MemAE's single memory sits at the 16x bottleneck and is pixel-wise
    (memory,) = small("memae", 64, 3).generator.memories.values()
    assert memory.shape == (32, 4, 4) and memory.rates == (4, 4, 1) and memory.block_dim == 32
    # DAAD: the same rates at every scale, so the block size halves scale by scale
    daad = build_model("daad", image_size=256)
    assert [m.rates for m in daad.generator.memories.values()] == [(8, 8, 1)] * 4
    assert sorted(m.block_dim for m in daad.generator.memories.values()) == [
        256 * 2 * 2, 128 * 4 * 4, 64 * 8 * 8, 32 * 16 * 16]


def test_ae_decoder_sees_no_skip():
    """Without skips the decoder's input at each scale has only the upsampled channels."""
    ae, skip = small("ae", 32, 3), small("ae_skip", 32, 3)
    in_channels = lambda d: [stage[0].in_channels for stage in d.generator.decoder]
    assert in_channels(ae) == [8, 16, 16, 32]
    assert in_channels(skip) == [16, 32, 32, 32]


def test_discriminator_returns_logit_and_last_conv_features():
    detector = build_model("daad_plus", image_size=64, rates=(4, 4, 1), num_items=20)
    logit, features = detector.discriminator(torch.randn(3, 3, 64, 64))
    assert logit.shape == (3,)
    assert features.shape[0] == 3 and features.shape[2:] == (4, 4)


@pytest.mark.parametrize("size", [100, 24, 8])
def test_image_size_must_be_divisible_by_downsampling(size):
    with pytest.raises(ValueError, match=f"image size {size}"):
        make_config("ae", image_size=size)


def test_rates_must_divide_every_scale():
    with pytest.raises(ValueError, match=r"\(8, 8, 1\).*\(256, 4, 4\).*scale 4.*64px"):
        make_config("daad", image_size=64, rates=(8, 8, 1))  # 16x bottleneck of a 64px image is 4x4


@pytest.mark.parametrize("size", [16, 32, 48, 64, 80, 96, 128, 256, 512])
@pytest.mark.parametrize("channels", [1, 3])
def test_presets_pick_working_rates_and_widths_for_any_supported_size(size, channels):
    """A user gives only the image size: blocks span 32 image pixels where the bottleneck allows."""
    config = make_config("daad", image_size=size, channels=channels)
    r_h, r_w, r_c = config.rates
    bottleneck = size // 16
    assert bottleneck % r_h == 0 and r_c == 1 and r_h == r_w
    assert r_h <= max(1, size // 32)
    if size % 32 == 0 and bottleneck % (size // 32) == 0:
        assert size // r_h == 32  # exactly the paper's block: 32x32 image pixels
    values_in_bottleneck = config.widths[-1] * bottleneck ** 2
    assert values_in_bottleneck < channels * size * size / 2  # no room to copy the input
    build_model(config)  # and the network builds


def test_paper_setting_and_half_size():
    assert make_config("daad", image_size=256).rates == (8, 8, 1)  # Sec. 4.1
    assert make_config("daad", image_size=128).rates == (4, 4, 1)  # same block size in pixels
    assert make_config("daad", image_size=256).widths == (32, 64, 128, 256)


def test_unknown_variant_and_inconsistent_options():
    with pytest.raises(ValueError, match="unknown model 'vae'"):
        make_config("vae")
    with pytest.raises(ValueError, match="need discriminator"):
        make_config("daad", gamma=0.9)


def test_config_survives_a_dict_round_trip():
    config = make_config("daad_plus", image_size=128, num_items=64)
    assert ModelConfig.from_dict(config.to_dict()) == config
    listed = {**config.to_dict(), "widths": [32, 64, 128, 256], "rates": [4, 4, 1]}  # as JSON stores them
    assert ModelConfig.from_dict(listed) == config


def test_dcae_is_deep_svdds_network_with_a_dense_code():
    """Deep SVDD's DCAE: 5x5 conv + BN + leaky ReLU + max-pool stages, a dense code of 32 (grey) or
    128 (colour) values, mirrored with nearest upsampling; nothing else of the family."""
    grey, colour = make_config("dcae", image_size=32, channels=1), make_config("dcae", image_size=32)
    assert (grey.widths, grey.code_size, colour.widths, colour.code_size) == ((8, 4), 32, (32, 64, 128), 128)
    generator = build_model(grey).generator
    convs = [m for m in generator.encoder if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size) for c in convs] == [(1, 8, (5, 5)), (8, 4, (5, 5))]
    assert generator.code.in_features == 4 * 8 * 8 and generator.code.out_features == 32
    # the code is the only path: changing it changes the output, and every weight gets a gradient
    x = torch.rand(3, 1, 32, 32) * 2 - 1
    x_hat, weights = generator(x)
    assert weights == {} and x_hat.shape == x.shape
    x_hat.pow(2).mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in generator.parameters())
    assert ModelConfig.from_dict(grey.to_dict()) == grey


def layer_plan(decoder) -> list:
    """The decoder as Deep SVDD's code builds it: ('conv', out), 'bn', 'lrelu', 'up', 'tanh'."""
    names = {torch.nn.BatchNorm2d: "bn", torch.nn.LeakyReLU: "lrelu", torch.nn.Upsample: "up", torch.nn.Tanh: "tanh"}
    return [("conv", m.out_channels) if isinstance(m, torch.nn.Conv2d) else names[type(m)] for m in decoder]


def test_dcae_decoder_is_deep_svdds_build_autoencoder():
    """Deep SVDD's decoders (its code's build_autoencoder, CIFAR-10 architecture 3 and MNIST): the
    code reshaped to (code/16, 4, 4), convolution then upsampling per width, BN on CIFAR-10's last
    convolution only; no dense layer back to a feature map (our first translation had one)."""
    colour = build_model(make_config("dcae", image_size=32)).generator
    block = lambda width: [("conv", width), "bn", "lrelu", "up"]
    assert layer_plan(colour.decoder) == block(128) + block(64) + block(32) + [("conv", 3), "bn", "tanh"]
    assert colour.bottom_shape == (8, 4, 4) and not hasattr(colour, "expand")
    assert all(not m.bias for m in colour.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)))
    grey = build_model(make_config("dcae", image_size=32, channels=1)).generator
    assert layer_plan(grey.decoder) == ["up"] + block(4) + block(8) + [("conv", 1), "tanh"]  # MNIST: one spare up
    assert grey.bottom_shape == (2, 4, 4)


def test_dcae_runs_of_the_first_translation_still_load_as_they_were_made():
    """A config written before ``dcae_decoder`` existed is the first translation ("dense"): its
    checkpoints load, and it never passes for Deep SVDD's decoder."""
    old = {k: v for k, v in make_config("dcae", image_size=32).to_dict().items() if k != "dcae_decoder"}
    first = ModelConfig.from_dict(old)
    assert first.dcae_decoder == "dense" and first != make_config("dcae", image_size=32)
    torch.manual_seed(0)
    generator = build_model(first).generator
    assert layer_plan(generator.decoder) == ["up", ("conv", 64), "bn", "lrelu", "up", ("conv", 32), "bn", "lrelu",
                                             "up", ("conv", 3), "tanh"]
    assert generator.expand.out_features == 128 * 4 * 4
    build_model(first).generator.load_state_dict(generator.state_dict())  # strict: the same modules
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    assert generator(x)[0].shape == x.shape


@pytest.mark.parametrize("bad, message", [
    (dict(network="dcae", memory="all"), "no memory"), (dict(network="dcae", skips=True), "no memory, skips"),
    (dict(network="vgg"), "network must be one of"), (dict(code_size=16), "needs network='dcae'"),
    (dict(network="dcae", code_size=0), "positive"), (dict(dcae_decoder="dense"), "needs network='dcae'"),
    (dict(network="dcae", dcae_decoder="mirror"), "dcae_decoder must be one of"),
    (dict(network="dcae", code_size=40), "multiple of 16"),
    (dict(network="dcae", image_size=48), "4 x 2"),
    (dict(network="dcae", image_size=48, dcae_decoder="dense"), None)])
def test_dcae_configs_that_cannot_be_built_are_refused(bad, message):
    values = {"image_size": 32, "memory": "none", "skips": False, **bad}
    if message is None:  # buildable: the first translation has no 4 x 2^k constraint
        ModelConfig(channels=1, **values)
        return
    with pytest.raises(ValueError, match=message):
        ModelConfig(channels=1, **values)
