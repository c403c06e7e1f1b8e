import matplotlib

matplotlib.use("agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from rd_unet.config import ClutterSet, FixedTarget, TargetConfig, load_scenario, replace_nested  # noqa: E402
from rd_unet.sim.targets import TARGET_DTYPE  # noqa: E402


@pytest.fixture
def tiny():
    return load_scenario("tiny")


def quiet_scenario(scenario, targets=()):
    """The scenario with no clutter, no interference and the given fixed targets (or none)."""
    tcfg = TargetConfig(count=(0, 0), fixed=tuple(FixedTarget(*t) for t in targets))
    return replace_nested(scenario, targets=tcfg, clutter=ClutterSet(), **{"interference.enabled": False})


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory):
    """A small seeded dataset of the tiny preset (shared by data, train and eval tests)."""
    from rd_unet.data.generate import generate_dataset
    path = tmp_path_factory.mktemp("data") / "tiny.h5"
    generate_dataset(load_scenario("tiny"), path, num_maps=48, seed=7, progress=False)
    return path


def rng(seed=0):
    return np.random.default_rng(seed)


@pytest.fixture(scope="module")
def identity(tmp_path_factory):
    """A residual U-Net with zero-initialised output: the denoiser is identity + pedestal."""
    from rd_unet.config import NormalizationConfig, UNetConfig
    from rd_unet.model.checkpoint import save_checkpoint
    from rd_unet.model.unet import UNet
    path = tmp_path_factory.mktemp("m") / "identity.pt"
    cfg = UNetConfig(depth=2, base_channels=4)
    save_checkpoint(path, model=UNet(cfg), model_config=cfg, normalization=NormalizationConfig())
    return path


def target_table(rows):
    """A target table (rd_unet.sim.targets.TARGET_DTYPE) with (map_index, doppler_bin,
    range_bin) from ``rows`` and every other field 0."""
    t = np.zeros(len(rows), TARGET_DTYPE)
    for k, (m, d, r) in enumerate(rows):
        t[k]["map_index"], t[k]["doppler_bin"], t[k]["range_bin"] = m, d, r
    return t
