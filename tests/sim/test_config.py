import pytest

from rd_unet.config import ConfigError, ScenarioConfig, from_dict, list_presets, load_scenario, to_dict
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
