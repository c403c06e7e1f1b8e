import numpy as np
import pytest

from rd_unet.config import (ConfigError, RadarConfig, ScenarioConfig, TargetConfig, TrainConfig, UNetConfig, from_dict,
                            list_presets, load_scenario, to_dict)
from rd_unet.sim import RDSimulator


@pytest.mark.parametrize("name", ["default", "tiny", "automotive", "ground_surveillance", "maritime"])
def test_presets_load_and_round_trip(name):
    sc = load_scenario(name)
    assert from_dict(ScenarioConfig, to_dict(sc)) == sc
    RDSimulator(sc)  # consistent with the radar (targets inside the maximum range)


def test_presets_listed():
    assert {"default", "tiny", "automotive", "ground_surveillance", "maritime"} <= set(list_presets())


def test_no_scenario_gives_default():
    assert load_scenario(None).name == "default"


@pytest.mark.parametrize("text,message", [
    ("[radar]\nbandwith_hz = 1e9\n", "unknown key 'bandwith_hz'"),
    ("[targets]\nsnr_db = [30, 10]\n", "targets.snr_db: expected [low, high] with low <= high"),
    ("[radar]\nsamples_per_chirp = 4\n", "radar.samples_per_chirp: expected an integer in [8, 8192]"),
    ("[radar]\nrange_window = 'kaiser'\n", "radar.range_window: unknown window 'kaiser'"),
    ("[clutter.ground]\ndistribution = 'lognormal'\n", "clutter.ground.distribution"),
    ("[targets]\nswerling = [2]\n", "targets.swerling"),
    ("[interference]\nslope_ratio = [0.9, 1.1]\n", "interference.slope_ratio: must exclude 1"),
    ("[radar]\nbandwidth_hz = 'wide'\n", "radar.bandwidth_hz: expected a number, got 'wide'"),
    ("[radar\n", "not valid TOML"),
    ("[clutter.rain]\nenabled = true\n", "unknown key 'rain'"),
])
def test_bad_scenario_files_are_rejected_naming_the_key(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_scenario(path)
    assert message in str(err.value)
    assert str(path) in str(err.value)


def test_targets_beyond_max_range_are_rejected(tmp_path):
    path = tmp_path / "far.toml"
    path.write_text("[targets]\nrange_m = [10, 500]\n")
    with pytest.raises(ConfigError, match="beyond the radar's maximum range"):
        RDSimulator(load_scenario(path))


def test_sampling_window_must_fit_in_chirp(tmp_path):
    path = tmp_path / "fast.toml"
    path.write_text("[radar]\nsample_rate_hz = 1e6\n")
    with pytest.raises(ConfigError, match="must fit in the chirp"):
        load_scenario(path)


def test_unknown_preset_lists_presets():
    with pytest.raises(ConfigError, match="tiny"):
        load_scenario("no_such_preset")


@pytest.mark.parametrize("build,message", [
    (lambda: TrainConfig(weight_decay=-1.0), "weight_decay: expected a number >= 0, got -1.0"),
    (lambda: TrainConfig(num_workers=-2), "num_workers: expected an integer in [0, 256], got -2"),
    (lambda: TrainConfig(crop=(8, -1)), "crop: expected an integer >= 0, got [8, -1]"),
    (lambda: TrainConfig(epochs=2.5), "epochs: expected an integer, got 2.5"),
    (lambda: UNetConfig(depth=9), "depth: expected an integer in [1, 6], got 9"),
    (lambda: RadarConfig(bandwidth_hz=0.0), "bandwidth_hz: expected a number > 0, got 0.0"),
    (lambda: TargetConfig(swerling=(2,)), "swerling: expected 0, 1 or 3, got [2]"),
])
def test_python_api_validates_like_files(build, message):
    """One mechanism for files, flags and Python: the message names field, value and range."""
    with pytest.raises(ConfigError) as err:
        build()
    assert str(err.value) == message


def test_python_api_converts_to_the_annotated_types():
    from rd_unet.config import TrainConfig, UNetConfig
    cfg = TrainConfig(lr=1, crop=[16, 32], model=UNetConfig(depth=2))
    assert cfg.lr == 1.0 and isinstance(cfg.lr, float) and cfg.crop == (16, 32)


def test_train_flags_come_from_the_dataclass_and_errors_name_the_flag(capsys):
    import dataclasses

    from rd_unet.cli import build_parser, main
    from rd_unet.config import TrainConfig
    helptext = build_parser()._subparsers._group_actions[0].choices["train"].format_help()
    for f in dataclasses.fields(TrainConfig):
        if f.metadata.get("doc"):
            flag = ("--no-" if f.default is True else "--") + f.name.replace("_", "-")
            assert flag in helptext, flag
    assert main(["train", "--data", "x.h5", "--epochs", "0"]) == 2
    assert "--epochs: expected an integer in [1, 1e+09], got 0" in capsys.readouterr().err


def test_velocities_beyond_the_unambiguous_limit_are_errors_unless_aliasing_is_allowed():
    from rd_unet.config import ClutterConfig, ClutterSet, FixedTarget, replace_nested
    from rd_unet.sim import radar as rd
    sc = load_scenario("tiny")
    v_max = rd.max_velocity_mps(sc.radar)
    fast = replace_nested(sc, targets=TargetConfig(count=(0, 0), fixed=(FixedTarget(10.0, v_max + 4.0, 20.0),)),
                          clutter=ClutterSet())
    with pytest.raises(ConfigError, match="targets.velocity_mps: targets from .* beyond the radar's unambiguous"):
        RDSimulator(fast)
    m = RDSimulator(replace_nested(fast, allow_aliasing=True)).simulate(np.random.default_rng(0))
    # the table records the aliased bin, where the map's peak is
    aliased = rd.velocity_to_bin(sc.radar, v_max + 4.0 - 2 * v_max)
    assert int(m.targets["doppler_bin"][0]) == int(aliased)
    assert m.clean[:, int(m.targets["range_bin"][0])].argmax() == aliased
    far = replace_nested(sc, clutter=ClutterSet(ground=ClutterConfig(enabled=True, range_m=(500.0, 900.0))))
    with pytest.raises(ConfigError, match="clutter.ground.range_m: starts at 500 m, beyond"):
        RDSimulator(far)


def test_stress_presets_load_simulate_and_are_package_data():
    """The stress suite (issue 15): at least 8 scenarios, loadable by name as stress/NAME."""
    from pathlib import Path

    import rd_unet
    names = sorted(p.stem for p in (Path(rd_unet.__file__).parent / "presets" / "stress").glob("*.toml"))
    assert len(names) >= 8
    for name in names:
        sc = load_scenario(f"stress/{name}")
        m = RDSimulator(sc).simulate(np.random.default_rng(0))
        assert m.noisy.shape == (sc.radar.chirps_per_frame, sc.radar.samples_per_chirp)
