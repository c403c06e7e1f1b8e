"""Configuration dataclasses, the axis convention, and strict loading from TOML.

Axis convention (stated once, used everywhere):

* an RD map is ``(num_doppler_bins, num_range_bins)`` -- ``(D, R)``;
* a stack of maps is ``(N, D, R)``;
* a batch for the network is ``(B, C, D, R)``.

Every stage has one frozen dataclass. ``to_dict`` / ``from_dict`` turn them into
plain JSON-able dicts (stored in HDF5 attributes and checkpoints) and back;
``from_dict`` rejects unknown keys and bad values with a message naming the key.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import tomllib
import typing
from dataclasses import dataclass
from pathlib import Path

DOPPLER_AXIS = -2
RANGE_AXIS = -1
SPEED_OF_LIGHT_MPS = 299_792_458.0

Pair = tuple[float, float]


class ConfigError(ValueError):
    """A configuration value or key is invalid; the message names the key."""


def _pair(value, key: str, *, low: float = -math.inf, high: float = math.inf) -> Pair:
    """Validate a ``[low, high]`` interval (a single number means a fixed value)."""
    lo, hi = value
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ConfigError(f"{key}: expected finite numbers, got {list(value)}")
    if lo > hi:
        raise ConfigError(f"{key}: expected [low, high] with low <= high, got {list(value)}")
    if lo < low or hi > high:
        raise ConfigError(f"{key}: values must lie in [{low}, {high}], got {list(value)}")
    return (float(lo), float(hi))


def _positive(value: float, key: str) -> None:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise ConfigError(f"{key}: expected a positive number, got {value!r}")


WINDOWS = ("hann", "hamming", "blackman", "chebyshev", "taylor", "rectangular")


def _check_window(spec: str, key: str) -> None:
    name, _, arg = spec.partition(":")
    if name not in WINDOWS:
        raise ConfigError(f"{key}: unknown window {spec!r}; expected one of {', '.join(WINDOWS)} "
                          "(chebyshev and taylor take a sidelobe level, e.g. 'chebyshev:60')")
    if arg:
        if name not in ("chebyshev", "taylor"):
            raise ConfigError(f"{key}: window {name!r} takes no parameter, got {spec!r}")
        try:
            if float(arg) <= 0:
                raise ValueError
        except ValueError:
            raise ConfigError(f"{key}: sidelobe level must be a positive number of dB, got {spec!r}") from None


# ----------------------------------------------------------------------------- simulation
@dataclass(frozen=True)
class RadarConfig:
    """FMCW radar parameters (complex baseband sampling).

    The sampled part of each chirp lasts ``samples_per_chirp / sample_rate_hz`` and
    must fit inside ``chirp_duration_s``. Chirps repeat every
    ``chirp_duration_s + idle_time_s``.
    """

    carrier_frequency_hz: float = 77e9
    bandwidth_hz: float = 300e6
    chirp_duration_s: float = 25.6e-6
    idle_time_s: float = 0.0
    samples_per_chirp: int = 128
    chirps_per_frame: int = 64
    sample_rate_hz: float = 5e6
    range_window: str = "hann"
    doppler_window: str = "hann"

    def __post_init__(self):
        for key in ("carrier_frequency_hz", "bandwidth_hz", "chirp_duration_s", "sample_rate_hz"):
            _positive(getattr(self, key), key)
        if not (math.isfinite(self.idle_time_s) and self.idle_time_s >= 0):
            raise ConfigError(f"idle_time_s: expected a number >= 0, got {self.idle_time_s!r}")
        for key in ("samples_per_chirp", "chirps_per_frame"):
            n = getattr(self, key)
            if not (isinstance(n, int) and 8 <= n <= 8192):
                raise ConfigError(f"{key}: expected an integer in [8, 8192], got {n!r}")
        sampling_s = self.samples_per_chirp / self.sample_rate_hz
        if sampling_s > self.chirp_duration_s * (1 + 1e-9):
            raise ConfigError(
                f"samples_per_chirp / sample_rate_hz = {sampling_s:.3e} s is longer than "
                f"chirp_duration_s = {self.chirp_duration_s:.3e} s: the sampling window must fit in the chirp")
        _check_window(self.range_window, "range_window")
        _check_window(self.doppler_window, "doppler_window")


@dataclass(frozen=True)
class FixedTarget:
    range_m: float
    velocity_mps: float
    snr_db: float
    swerling: int = 0

    def __post_init__(self):
        if self.swerling not in (0, 1, 3):
            raise ConfigError(f"swerling: expected 0, 1 or 3, got {self.swerling!r}")


@dataclass(frozen=True)
class TargetConfig:
    """How targets are drawn for each map.

    ``count`` is an inclusive integer interval, drawn uniformly, or with
    ``count_distribution = "poisson"`` from a Poisson law of mean ``count_mean``
    (default: the interval's midpoint) clipped to the interval. Intervals of the
    form ``[low, high]`` are drawn uniformly per target; ``swerling`` lists the
    fluctuation models drawn from with equal probability. ``extended_fraction`` of
    the targets are clusters of ``scatterers`` point scatterers spread over
    ``extent_range_m`` x ``extent_velocity_mps``. ``fixed``, when given, replaces the
    random draw with the same list of point targets in every map.
    """

    count: tuple[int, int] = (1, 6)
    count_distribution: str = "uniform"
    count_mean: float = 0.0
    range_m: Pair = (5.0, 60.0)
    velocity_mps: Pair = (-15.0, 15.0)
    snr_db: Pair = (0.0, 25.0)
    swerling: tuple[int, ...] = (0, 1, 3)
    extended_fraction: float = 0.2
    extent_range_m: Pair = (1.0, 3.0)
    extent_velocity_mps: Pair = (0.3, 1.0)
    scatterers: tuple[int, int] = (3, 8)
    fixed: tuple[FixedTarget, ...] = ()

    def __post_init__(self):
        lo, hi = self.count
        if not (isinstance(lo, int) and isinstance(hi, int) and 0 <= lo <= hi <= 1000):
            raise ConfigError(f"count: expected integers [low, high] with 0 <= low <= high <= 1000, got {list(self.count)}")
        if self.count_distribution not in ("uniform", "poisson"):
            raise ConfigError(f"count_distribution: expected 'uniform' or 'poisson', got {self.count_distribution!r}")
        if not (math.isfinite(self.count_mean) and self.count_mean >= 0):
            raise ConfigError(f"count_mean: expected a number >= 0, got {self.count_mean!r}")
        _pair(self.range_m, "range_m", low=0.0)
        _pair(self.velocity_mps, "velocity_mps")
        _pair(self.snr_db, "snr_db", low=-50.0, high=150.0)
        if not self.swerling or any(s not in (0, 1, 3) for s in self.swerling):
            raise ConfigError(f"swerling: expected a non-empty list of 0, 1 and 3, got {list(self.swerling)}")
        if not 0.0 <= self.extended_fraction <= 1.0:
            raise ConfigError(f"extended_fraction: expected a number in [0, 1], got {self.extended_fraction!r}")
        _pair(self.extent_range_m, "extent_range_m", low=0.0)
        _pair(self.extent_velocity_mps, "extent_velocity_mps", low=0.0)
        slo, shi = self.scatterers
        if not (isinstance(slo, int) and isinstance(shi, int) and 1 <= slo <= shi <= 100):
            raise ConfigError(f"scatterers: expected integers [low, high] in [1, 100], got {list(self.scatterers)}")


AMPLITUDE_MODELS = ("rayleigh", "weibull", "k")


@dataclass(frozen=True)
class ClutterConfig:
    """One clutter component (ground, drifting or volume).

    ``cnr_db`` is the clutter-to-noise ratio at ``range_m[0]``: the total clutter
    power of one range cell, summed over its Doppler spread, relative to the noise
    power of one RD cell -- the peak SNR the cell would have if all of it fell in a
    single Doppler bin. Power falls as ``(range_m[0] / r) ** range_exponent``.
    The Doppler spectrum is Gaussian with mean ``mean_velocity_mps`` (plus
    ``ego_velocity_mps``, the platform's own motion, which shifts stationary clutter
    to ``-ego_velocity_mps``) and standard deviation ``spread_mps``. Range cells get
    a texture (compound-Gaussian model): ``rayleigh`` none, ``k`` a Gamma texture of
    shape ``shape`` (K-distributed amplitudes), ``weibull`` a Weibull-amplitude
    texture of shape ``shape``.
    """

    enabled: bool = False
    cnr_db: Pair = (20.0, 30.0)
    range_m: Pair = (0.0, 1e9)
    range_exponent: float = 0.0
    mean_velocity_mps: Pair = (0.0, 0.0)
    spread_mps: Pair = (0.1, 0.3)
    ego_velocity_mps: float = 0.0
    distribution: str = "rayleigh"
    shape: float = 1.0

    def __post_init__(self):
        _pair(self.cnr_db, "cnr_db", low=-50.0, high=120.0)
        _pair(self.range_m, "range_m", low=0.0)
        if not (0.0 <= self.range_exponent <= 6.0):
            raise ConfigError(f"range_exponent: expected a number in [0, 6], got {self.range_exponent!r}")
        _pair(self.mean_velocity_mps, "mean_velocity_mps")
        _pair(self.spread_mps, "spread_mps", low=0.0)
        if self.distribution not in AMPLITUDE_MODELS:
            raise ConfigError(f"distribution: expected one of {', '.join(AMPLITUDE_MODELS)}, got {self.distribution!r}")
        _positive(self.shape, "shape")


@dataclass(frozen=True)
class InterferenceConfig:
    """Mutual interference from another FMCW radar with a different chirp slope.

    With probability ``probability`` a map is interfered with; then a fraction
    ``chirp_fraction`` of its chirps each carries one burst, where the interferer's
    sweep crosses ours. ``sir_db`` is the ratio of the strongest target's
    beat-signal sample power to the burst's sample power. ``slope_ratio`` is the
    interferer's chirp slope over ours.
    """

    enabled: bool = False
    probability: float = 1.0
    sir_db: Pair = (-10.0, 0.0)
    slope_ratio: Pair = (0.5, 0.8)
    chirp_fraction: Pair = (0.2, 0.6)

    def __post_init__(self):
        if not 0.0 <= self.probability <= 1.0:
            raise ConfigError(f"probability: expected a number in [0, 1], got {self.probability!r}")
        _pair(self.sir_db, "sir_db", low=-80.0, high=80.0)
        lo, hi = _pair(self.slope_ratio, "slope_ratio", low=-10.0, high=10.0)
        if lo <= 1.0 <= hi:
            raise ConfigError(f"slope_ratio: must exclude 1 (an equal slope is not a sweeping interferer), got {list(self.slope_ratio)}")
        _pair(self.chirp_fraction, "chirp_fraction", low=0.0, high=1.0)


@dataclass(frozen=True)
class ClutterSet:
    ground: ClutterConfig = ClutterConfig()
    drifting: ClutterConfig = ClutterConfig()
    volume: ClutterConfig = ClutterConfig()


@dataclass(frozen=True)
class ScenarioConfig:
    """A complete scenario: radar, targets, clutter and interference."""

    name: str = "custom"
    description: str = ""
    radar: RadarConfig = RadarConfig()
    targets: TargetConfig = TargetConfig()
    clutter: ClutterSet = ClutterSet()
    interference: InterferenceConfig = InterferenceConfig()


# ----------------------------------------------------------------------------- model
@dataclass(frozen=True)
class NormalizationConfig:
    """The network's input/output representation (see docs/normalisation.md).

    ``x = 10*log10(p / floor + eps) / scale_db`` with ``floor`` the map's noise
    floor, estimated as ``median(p) / ln 2`` (the mean of exponential noise). The
    inverse is ``p = floor * max(10**(x * scale_db / 10) - eps, 0)``.
    """

    kind: str = "log_floor"
    eps: float = 1e-3
    scale_db: float = 20.0

    def __post_init__(self):
        if self.kind != "log_floor":
            raise ConfigError(f"kind: only 'log_floor' is implemented, got {self.kind!r}")
        _positive(self.eps, "eps")
        _positive(self.scale_db, "scale_db")


@dataclass(frozen=True)
class UNetConfig:
    """U-Net architecture: ``depth`` pooling levels, widths ``base_channels * 2**level``.

    ``residual``: the output is the input plus the network's 1x1 output (zero
    initialised), so an untrained model is the identity and training learns what to
    remove (needs in_channels == out_channels).
    """

    in_channels: int = 1
    out_channels: int = 1
    depth: int = 3
    base_channels: int = 16
    upsampling: str = "transpose"
    residual: bool = True

    def __post_init__(self):
        if not (isinstance(self.depth, int) and 1 <= self.depth <= 6):
            raise ConfigError(f"depth: expected an integer in [1, 6], got {self.depth!r}")
        if not (isinstance(self.base_channels, int) and 1 <= self.base_channels <= 256):
            raise ConfigError(f"base_channels: expected an integer in [1, 256], got {self.base_channels!r}")
        if self.residual and self.in_channels != self.out_channels:
            raise ConfigError("residual: needs in_channels == out_channels")
        if self.upsampling not in ("transpose", "bilinear"):
            raise ConfigError(f"upsampling: expected 'transpose' or 'bilinear', got {self.upsampling!r}")


@dataclass(frozen=True)
class TrainConfig:
    """Training run settings (``rd-unet train``).

    ``target_weight``: cells whose clean power exceeds the noise floor weigh
    ``1 + target_weight`` in the loss (0, the default: the plain loss). Targets are a
    few cells in a thousand, so an unweighted loss barely notices their peaks.
    ``time_limit_min``: after each epoch, the number of epochs that fit in the budget
    is estimated from the measured epoch time and the cosine learning-rate schedule
    is planned to end with it (such runs depend on the machine's speed; runs without a
    time limit are reproducible and resumable step for step). ``patience``: stop after
    that many epochs without a better validation loss. ``init``: start from the weights
    of this checkpoint (a path, or a shipped model's name such as ``default``) to
    fine-tune it on your own data; the model's and the normalisation's configuration
    then come from that checkpoint. ``resume`` (continue an interrupted run) wins over it.
    """

    data: str = ""
    val: str = ""
    output: str = "runs/unet"
    val_fraction: float = 0.1
    epochs: int = 20
    batch_size: int = 16
    lr: float = 2e-3
    weight_decay: float = 1e-4
    loss: str = "mse"
    target_weight: float = 0.0
    seed: int = 0
    device: str = "auto"
    amp: bool = True
    channels_last: bool = True
    compile: bool = False
    in_memory: str = "auto"
    num_workers: int = 0
    crop: tuple[int, int] = (0, 0)
    flip: bool = False
    max_steps_per_epoch: int = 0
    patience: int = 0
    time_limit_min: float = 0.0
    resume: bool = False
    init: str = ""
    model: UNetConfig = UNetConfig()
    normalization: NormalizationConfig = NormalizationConfig()

    def __post_init__(self):
        if not (isinstance(self.epochs, int) and self.epochs >= 1):
            raise ConfigError(f"epochs: expected an integer >= 1, got {self.epochs!r}")
        if not (isinstance(self.batch_size, int) and self.batch_size >= 1):
            raise ConfigError(f"batch_size: expected an integer >= 1, got {self.batch_size!r}")
        _positive(self.lr, "lr")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ConfigError(f"val_fraction: expected a number in [0, 1), got {self.val_fraction!r}")
        if not (math.isfinite(self.target_weight) and self.target_weight >= 0):
            raise ConfigError(f"target_weight: expected a number >= 0, got {self.target_weight!r}")
        if self.loss not in ("mse", "l1", "huber"):
            raise ConfigError(f"loss: expected 'mse', 'l1' or 'huber', got {self.loss!r}")
        if self.device not in ("auto", "cpu", "cuda", "mps") and not self.device.startswith("cuda:"):
            raise ConfigError(f"device: expected auto, cpu, cuda, cuda:N or mps, got {self.device!r}")
        if self.in_memory not in ("auto", "yes", "no", "gpu"):
            raise ConfigError(f"in_memory: expected auto, yes, no or gpu, got {self.in_memory!r}")
        if any(c < 0 for c in self.crop):
            raise ConfigError(f"crop: expected two sizes >= 0 (0 = no crop), got {list(self.crop)}")


# ----------------------------------------------------------------------------- (de)serialisation
def to_dict(obj) -> dict:
    """A dataclass as a plain JSON-able dict (tuples become lists)."""
    def convert(value):
        if dataclasses.is_dataclass(value):
            return {f.name: convert(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, (tuple, list)):
            return [convert(v) for v in value]
        return value
    return convert(obj)


def to_json(obj) -> str:
    return json.dumps(to_dict(obj), sort_keys=True)


def _convert(tp, value, key: str):
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a table, got {value!r}")
        return from_dict(tp, value, prefix=key)
    if origin is tuple:
        args = typing.get_args(tp)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and len(args) == 2 and args[1] is not Ellipsis:
            value = [value, value]  # a single number means a fixed interval
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(args[0], v, f"{key}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise ConfigError(f"{key}: expected {len(args)} values, got {list(value)}")
        return tuple(_convert(a, v, f"{key}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, float) and value.is_integer())):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return int(value)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return value
    raise TypeError(f"unsupported config type {tp}")


def from_dict(cls, data: dict, *, prefix: str = ""):
    """Build dataclass ``cls`` from a dict, rejecting unknown keys and bad values."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    where = f"[{prefix}] " if prefix else ""
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"{where}unknown key {unknown[0]!r}; expected one of: {', '.join(sorted(names))}")
    kwargs = {}
    for name, value in data.items():
        key = f"{prefix}.{name}" if prefix else name
        kwargs[name] = _convert(hints[name], value, key)
    try:
        return cls(**kwargs)
    except ConfigError as err:
        msg = str(err)
        raise ConfigError(f"{prefix}.{msg}" if prefix and not msg.startswith("[") else msg) from None
    except TypeError as err:  # a required field is missing
        raise ConfigError(f"{where}{err}") from None


def replace_nested(obj, **changes):
    """``dataclasses.replace`` accepting dotted keys: ``replace_nested(c, **{"radar.bandwidth_hz": 1e9})``."""
    direct, nested = {}, {}
    for key, value in changes.items():
        head, _, rest = key.partition(".")
        if rest:
            nested.setdefault(head, {})[rest] = value
        else:
            direct[key] = value
    for head, sub in nested.items():
        direct[head] = replace_nested(getattr(obj, head), **sub)
    return dataclasses.replace(obj, **direct)


# ----------------------------------------------------------------------------- scenarios
def preset_dirs() -> list[Path]:
    """Where scenario presets are looked up: $RD_UNET_PRESETS, then the repository's simulations/presets."""
    dirs = []
    if os.environ.get("RD_UNET_PRESETS"):
        dirs.append(Path(os.environ["RD_UNET_PRESETS"]))
    dirs.append(Path(__file__).resolve().parent.parent / "simulations" / "presets")
    dirs.append(Path(__file__).resolve().parent / "presets")
    return dirs


def list_presets() -> list[str]:
    names = set()
    for d in preset_dirs():
        if d.is_dir():
            names.update(p.stem for p in d.glob("*.toml"))
    return sorted(names)


DEFAULT_PRESET = "default"


def load_scenario(name_or_path: str | os.PathLike | None = None) -> ScenarioConfig:
    """Load a scenario from a preset name or a TOML file; None gives the default preset."""
    name_or_path = str(name_or_path or DEFAULT_PRESET)
    path = Path(name_or_path)
    if not path.suffix:
        for d in preset_dirs():
            if (d / f"{name_or_path}.toml").is_file():
                path = d / f"{name_or_path}.toml"
                break
        else:
            raise ConfigError(f"unknown scenario {name_or_path!r}: not a file, and not one of the presets "
                              f"({', '.join(list_presets()) or 'none found'})")
    if not path.is_file():
        raise ConfigError(f"{path}: scenario file not found")
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML: {err}") from None
    data.setdefault("name", path.stem)
    try:
        return from_dict(ScenarioConfig, data)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None


def scenario_from_json(text: str) -> ScenarioConfig:
    return from_dict(ScenarioConfig, json.loads(text))
