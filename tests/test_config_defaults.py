"""One owner per default: ModelConfig resolves the size-dependent fields itself, so a config
built directly and one built by make_config agree, and stored records keep their values."""
from __future__ import annotations

import argparse
import inspect
from dataclasses import fields

import pytest

from daad_lib.cli import parser
from daad_lib.config import PRESETS, ModelConfig, block_rates, default_widths, make_config
from daad_lib.train import TrainConfig


@pytest.mark.parametrize("size, channels", [(32, 1), (64, 3), (128, 3), (128, 1), (256, 3)])
def test_a_config_built_directly_equals_the_preset(size, channels):
    assert ModelConfig(image_size=size, channels=channels) == make_config("daad", image_size=size, channels=channels)
    direct = ModelConfig(image_size=size, channels=channels)
    assert direct.widths == default_widths(size, channels) and direct.rates == block_rates(size)


@pytest.mark.parametrize("variant", sorted(PRESETS))
def test_every_preset_is_the_dataclass_with_its_preset_fields(variant):
    for size in (32, 128, 256):
        assert make_config(variant, image_size=size) == ModelConfig(variant=variant, image_size=size,
                                                                    **PRESETS[variant])


def test_stored_values_of_memoryless_and_pixelwise_models_are_kept():
    """Every stored AE / AE+Skip record holds the paper's (unused) (8, 8, 1) at any size, MemAE None."""
    assert make_config("ae", image_size=128).rates == (8, 8, 1)
    assert make_config("ae_skip", image_size=32, channels=1).rates == (8, 8, 1)
    assert make_config("memae", image_size=128).rates is None
    assert make_config("daad", image_size=128).rates == (4, 4, 1)
    stored = make_config("ae", image_size=128).to_dict()
    assert ModelConfig.from_dict(stored) == make_config("ae", image_size=128)


def test_train_flags_take_their_defaults_from_the_dataclass():
    train = next(a for a in parser()._subparsers._group_actions[0].choices.values() if a.prog.endswith("train"))
    defaults = {action.dest: action.default for action in train._actions}
    recipe = TrainConfig()
    for field in fields(TrainConfig):
        if field.name in defaults and defaults[field.name] is not None and field.type != "bool":
            assert defaults[field.name] == getattr(recipe, field.name), field.name
    assert isinstance(train.formatter_class(prog="x"), argparse.ArgumentDefaultsHelpFormatter)


def test_data_flags_take_their_defaults_from_the_library():
    from daad_lib.data import Folder

    train = parser().parse_args(["train"])
    folder_defaults = inspect.signature(Folder).parameters
    assert train.normal_split_ratio == folder_defaults["normal_split_ratio"].default and train.split_seed == 0
    assert train.preprocessing == "range" and train.fit == folder_defaults["fit"].default == "stretch"
