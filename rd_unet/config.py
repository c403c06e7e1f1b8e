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
import functools
import json
import math
import os
import tomllib
import typing
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SPEED_OF_LIGHT_MPS = 299_792_458.0

Pair = tuple[float, float]


class ConfigError(ValueError):
    """A configuration value or key is invalid; the message names the key."""


# ----------------------------------------------------------------------------- validation
# One mechanism for every dataclass below: each field states its type (the annotation)
# and its allowed values (``spec(default, check, doc)``) once. On construction -- from a
# file, from CLI flags or from Python -- ``Validated.__post_init__`` converts the value
# to the annotated type (``_convert``, the same converter ``from_dict`` uses) and runs
# its check; the message names the field, the value and what is allowed. Rules that
# tie several fields together live in each class's ``check``.
class Check:
    def __call__(self, key: str, value) -> None:
        raise NotImplementedError


@dataclass(frozen=True)
class Range(Check):
    """A number (or each number of a tuple) in [low, high]; ``open_low``: strictly above low."""

    low: float = -math.inf
    high: float = math.inf
    open_low: bool = False
    integer: bool = False
    open_high: bool = False

    def describe(self) -> str:
        what = "an integer" if self.integer else "a number"
        if math.isinf(self.high) and math.isinf(self.low):
            return f"a finite {'integer' if self.integer else 'number'}"
        if math.isinf(self.high):
            return f"{what} {'>' if self.open_low else '>='} {self.low:g}"
        return f"{what} in {'(' if self.open_low else '['}{self.low:g}, {self.high:g}{')' if self.open_high else ']'}"

    def __call__(self, key, value):
        values = value if isinstance(value, tuple) else (value,)
        for v in values:
            if not (math.isfinite(v) and (v > self.low if self.open_low else v >= self.low)
                    and (v < self.high if self.open_high else v <= self.high)):
                raise ConfigError(f"{key}: expected {self.describe()}, got {_show(value)}")


@dataclass(frozen=True)
class Interval(Check):
    """A ``[low, high]`` pair with low <= high inside [lower, upper]."""

    lower: float = -math.inf
    upper: float = math.inf

    def __call__(self, key, value):
        lo, hi = value
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise ConfigError(f"{key}: expected finite numbers, got {_show(value)}")
        if lo > hi:
            raise ConfigError(f"{key}: expected [low, high] with low <= high, got {_show(value)}")
        if lo < self.lower or hi > self.upper:
            raise ConfigError(f"{key}: values must lie in [{self.lower:g}, {self.upper:g}], got {_show(value)}")


@dataclass(frozen=True)
class OneOf(Check):
    """A value (or each value of a tuple) among ``options``; ``prefix``: strings starting with one also pass."""

    options: tuple = ()
    prefixes: tuple = ()
    non_empty: bool = False

    def __call__(self, key, value):
        values = value if isinstance(value, tuple) else (value,)
        if self.non_empty and not values:
            raise ConfigError(f"{key}: expected a non-empty list of {_or(self.options)}, got []")
        for v in values:
            if v not in self.options and not (isinstance(v, str) and v.startswith(self.prefixes or ("\0",))):
                extra = [f"{p}N" for p in self.prefixes]
                raise ConfigError(f"{key}: expected {_or(tuple(self.options) + tuple(extra))}, got {_show(value)}")


WINDOWS = ("hann", "hamming", "blackman", "chebyshev", "taylor", "rectangular")


class Window(Check):
    """``name`` or ``name:sidelobe_db`` (chebyshev and taylor)."""

    def __call__(self, key, spec):
        name, _, arg = spec.partition(":")
        if name not in WINDOWS:
            raise ConfigError(f"{key}: unknown window {spec!r}; expected one of {', '.join(WINDOWS)} "
                              "(chebyshev and taylor take an optional ':sidelobe_db')")
        if arg:
            if name not in ("chebyshev", "taylor"):
                raise ConfigError(f"{key}: window {name!r} takes no parameter, got {spec!r}")
            try:
                if float(arg) <= 0:
                    raise ValueError
            except ValueError:
                raise ConfigError(f"{key}: sidelobe level must be a positive number of dB, got {spec!r}") from None


def _show(value):
    return list(value) if isinstance(value, tuple) else repr(value)


def _or(options) -> str:
    words = [repr(o) if isinstance(o, str) else str(o) for o in options]
    return ", ".join(words[:-1]) + " or " + words[-1] if len(words) > 1 else words[0]


def spec(default, check: Check | None = None, doc: str = "", metavar=None):
    """A dataclass field with its allowed values (``check``) and a one-line help (``doc``;
    the CLI makes a flag of each field that has one, ``metavar`` naming its value)."""
    return dataclasses.field(default=default, metadata={"check": check, "doc": doc, "metavar": metavar})


POSITIVE = Range(0.0, open_low=True)
NON_NEGATIVE = Range(0.0)


class Validated:
    """Mixin of every configuration dataclass: type conversion and checks on construction."""

    def __post_init__(self):
        hints = _hints(type(self))
        for f in dataclasses.fields(self):
            value = _convert(hints[f.name], getattr(self, f.name), f.name)
            check = f.metadata.get("check")
            if check is not None:
                check(f.name, value)
            object.__setattr__(self, f.name, value)
        self.check()

    def check(self) -> None:
        """Rules across fields (none by default)."""


@functools.lru_cache(maxsize=None)
def _hints(cls) -> dict:
    return typing.get_type_hints(cls)


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
        if isinstance(value, tp):
            return value
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
        if isinstance(value, np.bool_):
            value = bool(value)
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, (np.integer, np.floating)):
            value = value.item()
        if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, float) and value.is_integer())):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return int(value)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
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


# ----------------------------------------------------------------------------- simulation
@dataclass(frozen=True)
class RadarConfig(Validated):
    """FMCW radar parameters (complex baseband sampling).

    The sampled part of each chirp lasts ``samples_per_chirp / sample_rate_hz`` and
    must fit inside ``chirp_duration_s``. Chirps repeat every
    ``chirp_duration_s + idle_time_s``.
    """

    carrier_frequency_hz: float = spec(77e9, POSITIVE)
    bandwidth_hz: float = spec(300e6, POSITIVE)
    chirp_duration_s: float = spec(25.6e-6, POSITIVE)
    idle_time_s: float = spec(0.0, NON_NEGATIVE)
    samples_per_chirp: int = spec(128, Range(8, 8192, integer=True))
    chirps_per_frame: int = spec(64, Range(8, 8192, integer=True))
    sample_rate_hz: float = spec(5e6, POSITIVE)
    range_window: str = spec("hann", Window())
    doppler_window: str = spec("hann", Window())
    # the thermal noise floor changes by this many dB from the first to the last range bin
    # (linear in dB, 0 dB at the middle), as an IF filter or a range-dependent gain shapes it
    noise_slope_db: float = spec(0.0, Range(-40.0, 40.0))
    # receive channels whose RD power maps are averaged before detection (non-coherent
    # integration, as radars with several receive antennas do): each channel has its own
    # thermal noise, the targets, clutter and interference are the same in all, so the
    # noise keeps mean power 1 per cell and its power fluctuates less (Gamma of shape K)
    noncoherent_channels: int = spec(1, Range(1, 64, integer=True))

    def check(self):
        sampling_s = self.samples_per_chirp / self.sample_rate_hz
        if sampling_s > self.chirp_duration_s * (1 + 1e-9):
            raise ConfigError(
                f"samples_per_chirp / sample_rate_hz = {sampling_s:.3e} s is longer than "
                f"chirp_duration_s = {self.chirp_duration_s:.3e} s: the sampling window must fit in the chirp")


SWERLING = OneOf((0, 1, 3))


@dataclass(frozen=True)
class FixedTarget(Validated):
    range_m: float = spec(10.0, NON_NEGATIVE)
    velocity_mps: float = spec(0.0, Range())
    snr_db: float = spec(10.0, Range(-50.0, 150.0))
    swerling: int = spec(0, SWERLING)


@dataclass(frozen=True)
class TargetConfig(Validated):
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

    count: tuple[int, int] = spec((1, 6), Interval(0, 1000))
    count_distribution: str = spec("uniform", OneOf(("uniform", "poisson")))
    count_mean: float = spec(0.0, NON_NEGATIVE)
    range_m: Pair = spec((5.0, 60.0), Interval(0.0))
    velocity_mps: Pair = spec((-15.0, 15.0), Interval())
    snr_db: Pair = spec((0.0, 25.0), Interval(-50.0, 150.0))
    swerling: tuple[int, ...] = spec((0, 1, 3), OneOf((0, 1, 3), non_empty=True))
    extended_fraction: float = spec(0.2, Range(0.0, 1.0))
    extent_range_m: Pair = spec((1.0, 3.0), Interval(0.0))
    extent_velocity_mps: Pair = spec((0.3, 1.0), Interval(0.0))
    scatterers: tuple[int, int] = spec((3, 8), Interval(1, 100))
    fixed: tuple[FixedTarget, ...] = ()


AMPLITUDE_MODELS = ("rayleigh", "weibull", "k")


@dataclass(frozen=True)
class ClutterConfig(Validated):
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
    cnr_db: Pair = spec((20.0, 30.0), Interval(-50.0, 120.0))
    range_m: Pair = spec((0.0, 1e9), Interval(0.0))
    range_exponent: float = spec(0.0, Range(0.0, 6.0))
    mean_velocity_mps: Pair = spec((0.0, 0.0), Interval())
    spread_mps: Pair = spec((0.1, 0.3), Interval(0.0))
    ego_velocity_mps: float = spec(0.0, Range())
    distribution: str = spec("rayleigh", OneOf(AMPLITUDE_MODELS))
    shape: float = spec(1.0, POSITIVE)


@dataclass(frozen=True)
class InterferenceConfig(Validated):
    """Mutual interference from another FMCW radar with a different chirp slope.

    With probability ``probability`` a map is interfered with; then a fraction
    ``chirp_fraction`` of its chirps each carries one burst, where the interferer's
    sweep crosses ours. ``sir_db`` is the ratio of the strongest target's
    beat-signal sample power to the burst's sample power. ``slope_ratio`` is the
    interferer's chirp slope over ours.
    """

    enabled: bool = False
    probability: float = spec(1.0, Range(0.0, 1.0))
    sir_db: Pair = spec((-10.0, 0.0), Interval(-80.0, 80.0))
    slope_ratio: Pair = spec((0.5, 0.8), Interval(-10.0, 10.0))
    chirp_fraction: Pair = spec((0.2, 0.6), Interval(0.0, 1.0))

    def check(self):
        lo, hi = self.slope_ratio
        if lo <= 1.0 <= hi:
            raise ConfigError(f"slope_ratio: must exclude 1 (an equal slope is not a sweeping interferer), "
                              f"got {list(self.slope_ratio)}")


@dataclass(frozen=True)
class ClutterSet(Validated):
    ground: ClutterConfig = ClutterConfig()
    drifting: ClutterConfig = ClutterConfig()
    volume: ClutterConfig = ClutterConfig()


@dataclass(frozen=True)
class ScenarioConfig(Validated):
    """A complete scenario: radar, targets, clutter and interference."""

    name: str = "custom"
    description: str = ""
    radar: RadarConfig = RadarConfig()
    targets: TargetConfig = TargetConfig()
    clutter: ClutterSet = ClutterSet()
    interference: InterferenceConfig = InterferenceConfig()
    allow_aliasing: bool = False         # True: targets/clutter beyond the unambiguous limits alias into the map


# ----------------------------------------------------------------------------- model
@dataclass(frozen=True)
class NormalizationConfig(Validated):
    """The network's input/output representation (see docs/normalisation.md).

    ``x = 10*log10(p / floor + eps) / scale_db`` with ``floor`` the map's noise
    floor, estimated as ``median(p) / ln 2`` (the mean of exponential noise). The
    inverse is ``p = floor * max(10**(x * scale_db / 10) - eps, 0)``.
    """

    kind: str = spec("log_floor", OneOf(("log_floor",)))
    eps: float = spec(1e-3, POSITIVE)
    scale_db: float = spec(20.0, POSITIVE)
    # the training target is ``clean + target_floor * floor``: 0 (version 0.2) asks the
    # network for the targets alone, so every noise cell must go to eps (-30 dB) and a
    # target it cannot tell from noise is pulled down there too; 1 asks for the targets
    # on the mean noise floor, so such a target costs a few dB at most, but clutter residues
    # cost as little, and it detected less in the ablation (docs/normalisation.md, ablation.md)
    target_floor: float = spec(0.0, NON_NEGATIVE, "noise floors added to the clean training target (0: targets alone)",
                               metavar="N")
    # the training target plus ``target_noise`` times the thermal noise alone (the
    # simulator's ``noise`` map): noise cells keep their texture, ``target_noise`` below
    # their power, so a detector on the output ranks the cells the network is unsure of
    # as the input did, instead of all at one floor (docs/normalisation.md)
    target_noise: float = spec(0.0, Range(0.0, 1.0), "fraction of the thermal noise alone added to the training "
                               "target (0: none; needs datasets simulated with --store-noise)", metavar="K")
    # inference only (training never sees it): where the cleaned estimate stands at least
    # ``passthrough_db`` above the map's noise floor the network has called the cell signal,
    # and unless it took more than ``passthrough_cut_db`` off the input there (clutter it
    # removed, whose residue must not come back), the output is the input's power (never
    # below the estimate). A network trained with MSE on log power shrinks the targets it
    # is unsure of towards the log-average of "target" and "noise"; the measured power is
    # the better amplitude for what it keeps, at a cost in low-Pfa detection on clutter
    # (docs/normalisation.md, "Passthrough")
    passthrough: bool = spec(False, None, "the cleaned map keeps the input's power where the network's estimate "
                             "stands passthrough_db above the noise floor")
    passthrough_db: float = spec(0.0, Range(-30.0, 60.0), "the passthrough's level above the map's noise floor (dB)",
                                 metavar="DB")
    passthrough_cut_db: float = spec(10.0, Range(0.0, 100.0), "cells whose estimate is more than this below the "
                                     "input (removed clutter) are not passed through (dB)", metavar="DB")
    # inference only: the network's output (log domain) averaged over the four flips of
    # the map (Doppler, range, both, none), each flipped back: test-time augmentation with
    # the symmetries the training augmented with (rd_unet.train.loop._augment), four
    # passes instead of one (docs/normalisation.md, "Flip averaging")
    flip_average: bool = spec(False, None, "average the network's output over the four flips of the map "
                              "(test-time augmentation; four passes)")
    # the map's noise floor scaled per range column by its profile over range
    # (rd_unet.data.normalize.noise_floor_profile): a floor that rises or falls over range
    # (an IF filter's shape) is flattened before the network and restored after. Training
    # normalises its inputs and targets the same way; a checkpoint trained with one floor
    # per map may switch it on at inference alone (docs/normalisation.md, "A noise floor
    # per range column")
    floor_profile: bool = spec(False, None, "normalise each range column by its own noise floor (a floor that rises "
                               "or falls over range)")
    # inference only: the network's output also averaged over ``doppler_shifts`` circular
    # shifts of the map along Doppler (rows 0, D/n, 2D/n, ...), each shifted back: the
    # Doppler axis is periodic, so a shifted map is a valid map whose borders and pooling
    # grid fall elsewhere (docs/normalisation.md, "Doppler-shift averaging"); 1: off
    doppler_shifts: int = spec(1, Range(1, 16, integer=True), "also average the network's output over this many "
                               "circular Doppler shifts of the map (test-time augmentation; multiplies the passes)")


ARCHITECTURES = ("unet", "unet-valid", "residual-unet", "attention-unet", "resnet-unet")


@dataclass(frozen=True)
class UNetConfig(Validated):
    """U-Net architecture: ``depth`` pooling levels, widths ``base_channels * 2**level``.

    ``residual``: the output is the input plus the network's 1x1 output (zero
    initialised), so an untrained model is the identity and training learns what to
    remove (needs in_channels == out_channels).
    """

    in_channels: int = spec(1, Range(1, 64, integer=True))
    out_channels: int = spec(1, Range(1, 64, integer=True))
    depth: int = spec(3, Range(1, 6, integer=True), "U-Net pooling levels")
    base_channels: int = spec(16, Range(1, 256, integer=True), "channels of the first level (doubling per level)")
    upsampling: str = spec("transpose", OneOf(("transpose", "bilinear")), "decoder upsampling")
    arch: str = spec("unet", OneOf(ARCHITECTURES), "member of the U-Net family (docs/architectures.md)")
    mask_head: bool = spec(False, None, "a second 1x1 output: target-mask logits, trained with BCE (or focal) + Dice")
    residual: bool = True
    # the Doppler FFT is periodic: the top and bottom rows of a map are neighbours (+-v_max).
    # With ``doppler_wrap`` every 3x3 convolution pads the Doppler axis circularly (range
    # keeps its zero padding), so a map rolled by a multiple of 2**depth rows gives the same
    # output rolled; the weights are those of the zero-padded network (a checkpoint can be
    # fine-tuned with it switched on)
    doppler_wrap: bool = spec(False, None, "3x3 convolutions wrap around the Doppler axis (circular padding; "
                              "the Doppler FFT is periodic)")

    def check(self):
        if self.residual and self.in_channels != self.out_channels:
            raise ConfigError("residual: needs in_channels == out_channels")
        if self.doppler_wrap and self.arch == "unet-valid":
            raise ConfigError("doppler_wrap: unet-valid has no padding to wrap (its overlap-tile inference "
                              "already extends maps circularly in Doppler)")


@dataclass(frozen=True)
class TrainConfig(Validated):
    """Training run settings (``rd-unet train``; each field with a ``doc`` is a flag).

    ``target_weight``: cells whose clean power exceeds the noise floor weigh
    ``1 + target_weight`` in the loss (0, the default: the plain loss). Targets are a
    few cells in a thousand, so an unweighted loss barely notices their peaks.
    ``peak_weight``: target-free cells whose input stands more than
    ``peak_threshold_db`` above the noise floor weigh ``1 + peak_weight``: the hedge
    between a noise peak and a weak target that look alike moves towards the noise
    peak, so the output's noise tail gets lighter (the shipped model: 3, with no
    target weight; balanced against an equal target weight it did not hold the tail
    down, docs/normalisation.md).
    ``clutter_weight``: a target cell also weighs ``clutter_weight x L / 10``, where L
    (dB, at least 0) is the mean over its 9 x 9 neighbourhood of the input's level over
    the noise floor (the mean of dB values, so one target barely moves it; thermal
    noise alone gives about -2.5 dB, hence 0). Inside a clutter band most cells that
    stand out are clutter, which ``peak_weight`` pushes down, and the loss's optimum
    erases the rare target there; this weight was meant to tip it back, but measured
    on the shipped model's fine-tunes (weights 4 and 15) it kept few more of them
    (docs/normalisation.md, "Drifting clutter bands"; not used by the shipped model).
    ``time_limit_min``: after each epoch, the number of epochs that fit in the budget
    is estimated from the measured epoch time and the cosine learning-rate schedule
    is planned to end with it (such runs depend on the machine's speed; runs without a
    time limit are reproducible and resumable step for step; the budget counts every
    session of a resumed run). ``patience``: stop after that many epochs without a
    better validation loss. ``init``: start from the weights of this checkpoint (a
    path, or a shipped model's name such as ``default``) to fine-tune it on your own
    data; the model's and the normalisation's configuration then come from that
    checkpoint, except the training target and passthrough fields the run sets: those
    named in ``init_overrides`` (the CLI names the flags given, so ``--target-noise 0``
    sets 0), and any other set off its default. ``resume`` (continue an interrupted
    run) wins over it.
    """

    data: str = spec("", None, "training dataset (.h5)")
    val: str = spec("", None, "validation dataset (default: a split of --data)")
    output: str = spec("runs/unet", None, "run directory (checkpoints, logs)")
    val_fraction: float = spec(0.1, Range(0.0, 0.99), "validation share of --data when --val is not given")
    epochs: int = spec(20, Range(1, 1e9, integer=True), "maximum number of epochs")
    batch_size: int = spec(16, Range(1, 1e6, integer=True), "maps per step (per process)")
    lr: float = spec(2e-3, POSITIVE, "peak learning rate (warm-up, then cosine decay)")
    weight_decay: float = spec(1e-4, NON_NEGATIVE)
    loss: str = spec("mse", OneOf(("mse", "l1", "huber")), "loss in the normalised domain")
    target_weight: float = spec(0.0, NON_NEGATIVE, "extra loss weight of cells holding targets (0: plain loss)")
    peak_weight: float = spec(0.0, NON_NEGATIVE, "extra loss weight of target-free cells whose input stands "
                                                  "above --peak-threshold-db (noise peaks, clutter, interference)")
    peak_threshold_db: float = spec(7.0, Range(), "input level over the noise floor above which --peak-weight applies")
    clutter_weight: float = spec(0.0, NON_NEGATIVE, "extra loss weight of target cells per 10 dB that the mean "
                                                     "log level of their input's 9 x 9 neighbourhood stands above "
                                                     "the noise floor (targets inside clutter; 0: none)")
    mask_loss: str = spec("bce_dice", OneOf(("bce_dice", "focal_dice")), "the mask head's loss (with --mask-head)")
    mask_weight: float = spec(1.0, NON_NEGATIVE, "the mask head's loss weight beside the map's MSE")
    seed: int = spec(0, Range(0, 2 ** 63, integer=True), "seed of the weights and the batch order")
    device: str = spec("auto", OneOf(("auto", "cpu", "cuda", "mps"), prefixes=("cuda:",)),
                       "auto, cpu, cuda, cuda:N or mps")
    amp: bool = spec(True, None, "bf16 mixed precision on CUDA")
    channels_last: bool = True
    compile: bool = spec(False, None, "torch.compile the model")
    in_memory: str = spec("auto", OneOf(("auto", "yes", "no", "gpu")), "load the datasets into RAM (gpu: onto the GPU)")
    num_workers: int = spec(0, Range(0, 256, integer=True), "DataLoader workers when streaming from disk")
    crop: tuple[int, int] = spec((0, 0), Range(0, integer=True), "random crops of D x R (0 0: whole maps)",
                                 ("D", "R"))
    flip: bool = spec(False, None, "random range/Doppler flips")
    doppler_roll: bool = spec(False, None, "random circular shifts along Doppler (a whole map shifted is still "
                                           "a valid map: the Doppler axis is periodic), so the network cannot "
                                           "learn which row zero Doppler is on")
    max_steps_per_epoch: int = spec(0, Range(0, integer=True), "cap on the steps of an epoch (0: none)")
    patience: int = spec(0, Range(0, integer=True), "stop after this many epochs without improvement (0: never)")
    time_limit_min: float = spec(0.0, NON_NEGATIVE, "stop after the epoch that passes this many minutes (0: none)")
    resume: bool = spec(False, None, "continue from RUN_DIR/last.pt")
    init: str = spec("", None, "fine-tune: start from this checkpoint or shipped model (e.g. default); "
                               "its architecture and normalisation are kept", "MODEL")
    model: UNetConfig = UNetConfig()
    normalization: NormalizationConfig = NormalizationConfig()
    init_overrides: tuple[str, ...] = ()


# ----------------------------------------------------------------------------- scenarios
def preset_dirs() -> list[Path]:
    """Where scenario presets are looked up: $RD_UNET_PRESETS, then the package's own presets
    (``rd_unet/presets``, package data, so they are there however the package was installed)."""
    dirs = []
    if os.environ.get("RD_UNET_PRESETS"):
        dirs.append(Path(os.environ["RD_UNET_PRESETS"]))
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
