"""``rd-unet``: one entry point, a thin layer over the library's functions.

Each subcommand parses its arguments, builds a config and calls one function.
Expected failures (bad input, bad configuration) print one line and exit 2.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rd_unet import __version__


def _cmd_simulate(args):
    from rd_unet.config import load_scenario
    from rd_unet.data.generate import generate_dataset
    from rd_unet.sim import radar as rd

    scenario = load_scenario(args.scenario)
    out = generate_dataset(scenario, args.output, num_maps=args.num_maps, seed=args.seed, workers=args.workers,
                           shard=args.shard, store_complex=args.store_complex, overwrite=args.overwrite,
                           progress=not args.quiet, compression=args.compression, store_noise=args.store_noise)
    d = rd.describe(scenario.radar)
    print(f"wrote {out}: scenario {scenario.name!r}, maps {d['num_doppler_bins']} x {d['num_range_bins']} "
          f"(Doppler x range), {d['range_resolution_m']:.3g} m x {d['velocity_resolution_mps']:.3g} m/s bins")


def _cmd_merge(args):
    from rd_unet.data.hdf5 import merge_shards
    out = merge_shards(args.shards, args.output, copy=args.copy, overwrite=args.overwrite)
    print(f"wrote {out} from {len(args.shards)} shards" + ("" if args.copy else " (virtual datasets: keep the shards beside it)"))


def _cmd_show(args):
    from rd_unet.data.hdf5 import open_dataset, read_targets
    from rd_unet.plots import rd_panels

    with open_dataset(args.file) as f:
        n = f["noisy"].shape[0]
        if not 0 <= args.index < n:
            raise ValueError(f"{args.file}: --index {args.index} out of range: the file holds {n} maps (0..{n - 1})")
        maps = {"noisy": f["noisy"][args.index]}
        if "clean" in f:
            maps["clean (ground truth)"] = f["clean"][args.index]
        offset = int(f.attrs.get("map_index_offset", 0))
        targets = read_targets(f)
        targets = targets[targets["map_index"] == offset + args.index]
        range_m, velocity_mps = f["range_m"][()], f["velocity_mps"][()]
    output = args.output or Path(args.file).with_suffix(f".map{args.index}.png")
    rd_panels(maps, range_m, velocity_mps, output, targets=targets, title=f"{Path(args.file).name} map {args.index}")
    print(f"wrote {output} ({len(targets)} targets)")


def config_flags(parser, cls, prefix: str = "") -> list[str]:
    """One flag per field of ``cls`` that has a ``doc`` (rd_unet.config.spec), typed from its
    annotation, choices from its check; returns the dests (``prefix + field``) it added."""
    import dataclasses
    import typing

    from rd_unet.config import OneOf

    hints, dests = typing.get_type_hints(cls), []
    for f in dataclasses.fields(cls):
        doc, check = f.metadata.get("doc"), f.metadata.get("check")
        if not doc:
            continue
        dest, flag, tp = prefix + f.name, "--" + f.name.replace("_", "-"), hints[f.name]
        kw = dict(dest=dest, default=None, help=doc, metavar=f.metadata.get("metavar") or f.name.upper())
        if tp is bool and f.default:
            parser.add_argument("--no-" + f.name.replace("_", "-"), action="store_false", dest=dest, default=None,
                                help=f"no {doc}")
        elif tp is bool:
            parser.add_argument(flag, action="store_true", dest=dest, default=None, help=doc)
        elif typing.get_origin(tp) is tuple:
            parser.add_argument(flag, type=typing.get_args(tp)[0], nargs=len(typing.get_args(tp)), **kw)
        elif isinstance(check, OneOf) and not check.prefixes:
            parser.add_argument(flag, choices=list(check.options), **{**kw, "metavar": None})
        else:
            parser.add_argument(flag, type=tp, **kw)
        dests.append(dest)
    return dests


def _train_config(args):
    import tomllib

    from rd_unet.config import NormalizationConfig, TrainConfig, UNetConfig, from_dict, replace_nested

    base = {}
    if args.config:
        try:
            with open(args.config, "rb") as fh:
                base = tomllib.load(fh)
        except tomllib.TOMLDecodeError as err:
            raise ValueError(f"{args.config}: not valid TOML: {err}") from None
        base = base.get("train", base)
    try:
        cfg = from_dict(TrainConfig, base)
    except ValueError as err:
        raise ValueError(f"{args.config}: {err}") from None
    dests = [f.name for f in __import__("dataclasses").fields(TrainConfig)] + \
        [f"model.{f.name}" for f in __import__("dataclasses").fields(UNetConfig)] + \
        [f"normalization.{f.name}" for f in __import__("dataclasses").fields(NormalizationConfig)]
    overrides = {d: getattr(args, d) for d in dests if getattr(args, d, None) is not None}
    # normalisation fields given (flags or the file) override an --init checkpoint's, even at their default
    given = set(base.get("normalization", {})) | {d.split(".", 1)[1] for d in overrides if d.startswith("normalization.")}
    overrides["init_overrides"] = tuple(sorted(given | set(cfg.init_overrides)))
    try:
        return replace_nested(cfg, **overrides)
    except ValueError as err:
        raise ValueError(flag_error(err)) from None


def flag_error(err) -> str:
    """A configuration error about field ``a_b`` (or ``model.a_b``) as one about flag ``--a-b``."""
    key, sep, rest = str(err).partition(":")
    if not sep or " " in key:
        return str(err)
    return "--" + key.rsplit(".", 1)[-1].replace("_", "-") + ":" + rest


def _cmd_train(args):
    from rd_unet.train.loop import train

    cfg = _train_config(args)
    if not cfg.data:
        raise ValueError("--data: a training dataset is required (or 'data' in the --config file)")
    result = train(cfg, progress=not args.quiet)
    if result.get("rank", 0) == 0:
        print(f"best validation loss {result['best_val_loss']:.4g} at epoch {result['best_epoch']}; "
              f"checkpoints in {cfg.output} (best.pt, last.pt)")


def _cmd_evaluate(args):
    from rd_unet.eval.report import EvalConfig, evaluate

    try:
        cfg = EvalConfig(pfa=args.pfa, num_maps=args.num_maps, device=args.device, batch_size=args.batch_size,
                         calibration=args.calibration or "", calibration_maps=args.calibration_maps)
    except ValueError as err:
        raise ValueError(flag_error(err)) from None
    report = evaluate(args.data, args.model, args.output, cfg, progress=not args.quiet,
                      passthrough=args.passthrough, flip_average=args.flip_average,
                      doppler_shifts=args.doppler_shifts, floor_profile=args.floor_profile)
    print(f"wrote {Path(args.output) / 'report.md'} and report.json")
    _print_headline(report)


def _print_headline(report):
    from rd_unet.eval.report import verdict

    def f(x, spec):
        return "   n/a" if x is None else format(x, spec)

    print(verdict(report))
    print(f"{'method':14s} {'pAUC':>6s} {'Pd@1e-6':>8s} {'Pd@1e-4':>8s} {'Pd@1e-2':>8s} {'peak med':>9s} "
          f"{'erased':>7s} {'lost':>6s} {'detSNR':>7s}")
    for name, m in report["methods"].items():
        pd = m["pd_at_pfa"]
        print(f"{name:14s} {f(m['partial_auc'], '6.3f')} {f(pd['1e-6'], '8.3f')} {f(pd['1e-4'], '8.3f')} "
              f"{f(pd['1e-2'], '8.3f')} {f(m['peak_error_db_median'], '6.1f')} dB {f(m['erased_fraction'], '7.3f')} "
              f"{f(m['lost_fraction'], '6.3f')} {f(m['detection_snr_gain_db'], '+5.1f')} dB")


def _cmd_clean(args):
    from rd_unet.clean import clean_files

    summary = clean_files(args.inputs, args.output, model=args.model, units=args.units, axes=args.axes,
                          batch_size=args.batch_size, device=args.device, overwrite=args.overwrite,
                          progress=not args.quiet, max_memory_mb=args.max_memory, shard=args.shard,
                          passthrough=args.passthrough, flip_average=args.flip_average,
                          doppler_shifts=args.doppler_shifts, floor_profile=args.floor_profile)
    return 1 if summary["failed"] else 0


def _cmd_inject(args):
    import numpy as np

    from rd_unet.clean import read_maps
    from rd_unet.recorded import injected_sets
    from rd_unet.sim.radar import window

    for spec in (args.range_window, args.doppler_window):
        window(spec, 8)                                    # an unknown window fails here, before any work
    for flag, size in (("--range-bin-m", args.range_bin_m), ("--velocity-bin-mps", args.velocity_bin_mps)):
        if not size > 0:
            raise ValueError(f"{flag}: expected a bin size > 0, got {size:g}")
    stacks = [read_maps(x, args.units, args.axes) for x in args.inputs]
    for x, stack in zip(args.inputs, stacks):
        if stack.shape[1:] != stacks[0].shape[1:]:
            raise ValueError(f"{x}: maps of {stack.shape[1]} x {stack.shape[2]}, but {args.inputs[0]} holds "
                             f"{stacks[0].shape[1]} x {stacks[0].shape[2]}; one set holds one map size")
    maps = np.concatenate(stacks)
    d, r = maps.shape[1:]
    range_m = np.arange(r) * args.range_bin_m
    velocity_mps = (np.arange(d) - d // 2) * args.velocity_bin_mps
    out, cal = injected_sets(maps, args.output, args.backgrounds, np.random.default_rng(args.seed), copies=args.copies,
                             count=tuple(args.targets_per_map), snr_db=tuple(args.snr_db),
                             range_window=args.range_window, doppler_window=args.doppler_window, range_m=range_m,
                             velocity_mps=velocity_mps, ridge_half=args.ridge_half,
                             source="recorded maps from " + ", ".join(args.inputs))
    print(f"wrote {cal} ({len(maps)} recorded maps of {d} x {r}) and {out} ({len(maps) * args.copies} with targets "
          f"added); score them with: rd-unet evaluate --data {out} --calibration {cal} --output REPORT_DIR")


def _cmd_export(args):
    from rd_unet.model.export import export_onnx
    out = export_onnx(args.model, args.output)
    print(f"wrote {out} (input 'power' (B, 1, D, R) linear power, output 'cleaned'; any B, D >= 8, R >= 8)")


def _cmd_arch(args):
    from rd_unet.config import UNetConfig, replace_nested
    from rd_unet.model.summary import describe_architecture, render

    import dataclasses
    fields = [f.name for f in dataclasses.fields(UNetConfig) if getattr(args, f"model.{f.name}", None) is not None]
    try:
        cfg = replace_nested(UNetConfig(), **{f: getattr(args, f"model.{f}") for f in fields})
    except ValueError as err:
        raise ValueError(flag_error(err)) from None
    if min(args.map_size) < 1:
        raise ValueError(f"--map-size: expected two sizes >= 1 (Doppler, range), got {args.map_size}")
    desc = describe_architecture(cfg, tuple(args.map_size))
    print(render(desc))
    if args.output:
        from rd_unet.plots import architecture_plot
        architecture_plot(desc, args.output)
        print(f"wrote {args.output}")


def _cmd_models(args):
    from rd_unet.model.pretrained import list_models
    models = list_models()
    if not models:
        print("no pretrained models are shipped with this installation")
    for m in models:
        print(f"{m['name']:12s} {m['path']}\n    trained on: {m['training']}")


def _cmd_presets(args):
    from rd_unet.config import list_presets, load_scenario
    from rd_unet.sim import radar as rd
    for name in list_presets():
        sc = load_scenario(name)
        d = rd.describe(sc.radar)
        print(f"{name:20s} {d['num_doppler_bins']:4d} x {d['num_range_bins']:<4d} {sc.description}")


def _inference_flags(s):
    """The inference settings a checkpoint carries, overridable by clean and evaluate."""
    s.add_argument("--passthrough", action=argparse.BooleanOptionalAction, default=None,
                   help="keep the input's power at the cells the network calls signal and kept (--passthrough), or "
                        "output the network's estimate alone (--no-passthrough); default: as the model's checkpoint "
                        "says (the shipped model: alone). docs/normalisation.md measures both")
    s.add_argument("--flip-average", action=argparse.BooleanOptionalAction, default=None,
                   help="average the network's output over the four flips of each map (--flip-average; test-time "
                        "augmentation, four passes) or run it once (--no-flip-average); default: as the model's "
                        "checkpoint says (the shipped model: on). docs/normalisation.md measures both")
    s.add_argument("--doppler-shifts", type=int, default=None, metavar="N",
                   help="also average the network's output over N circular Doppler shifts of each map (test-time "
                        "augmentation, N times the passes; 1: none); default: as the model's checkpoint says (the "
                        "shipped model: 1). docs/normalisation.md measures it")
    s.add_argument("--floor-profile", action=argparse.BooleanOptionalAction, default=None,
                   help="normalise each range column by its own noise floor, for floors that rise or fall over "
                        "range (--floor-profile), or the whole map by one (--no-floor-profile); default: as the "
                        "model's checkpoint says (the shipped model: on). docs/normalisation.md measures both")


def _cmd_demo(args):
    from rd_unet.demo import run_demo
    run_demo(args.output, quick=args.quick, device=args.device, progress=not args.quiet)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rd-unet", description="Denoising radar range-Doppler maps.")
    p.add_argument("--version", action="version", version=f"rd_unet {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name, fn, help_):
        sp = sub.add_parser(name, help=help_, description=help_)
        sp.set_defaults(fn=fn)
        sp.add_argument("--quiet", action="store_true", help="no progress bars")
        return sp

    s = add("simulate", _cmd_simulate, "Simulate an HDF5 dataset of RD maps with ground truth.")
    s.add_argument("--scenario", default=None, help="preset name (see `rd-unet presets`) or TOML file; default: 'default'")
    s.add_argument("--num-maps", type=int, required=True, help="maps in the whole dataset (all shards together)")
    s.add_argument("--seed", type=int, default=0, help="map i is drawn from default_rng([seed, i])")
    s.add_argument("--output", required=True, help="output .h5 file")
    s.add_argument("--workers", type=int, default=1, help="worker processes")
    s.add_argument("--shard", default="0/1", help="K/N: write only shard K (from 0) of N; join with `rd-unet merge`")
    s.add_argument("--store-complex", action="store_true", help="also store complex RD maps")
    s.add_argument("--store-noise", action="store_true",
                   help="also store the thermal noise alone ('noise'; for training with --target-noise)")
    s.add_argument("--compression", choices=["none", "lzf", "gzip"], default="none",
                   help="HDF5 filter of the maps (none: fastest; gzip: about 15%% smaller, several times slower)")
    s.add_argument("--overwrite", action="store_true", help="replace an existing output file")

    s = add("merge", _cmd_merge, "Join shard files into one dataset.")
    s.add_argument("shards", nargs="+")
    s.add_argument("--output", required=True)
    s.add_argument("--copy", action="store_true", help="copy the maps (self-contained) instead of virtual datasets")
    s.add_argument("--overwrite", action="store_true")

    s = add("show", _cmd_show, "Draw one map of a dataset (noisy and clean, dB, targets marked).")
    s.add_argument("file")
    s.add_argument("--index", type=int, default=0)
    s.add_argument("--output", default=None, help="PNG file (default: FILE.mapI.png)")

    s = add("train", _cmd_train, "Train the U-Net denoiser.")
    s.add_argument("--config", default=None, help="TOML file with TrainConfig fields (flags override it)")
    from rd_unet.config import NormalizationConfig, TrainConfig, UNetConfig
    config_flags(s, TrainConfig)
    config_flags(s, UNetConfig, prefix="model.")
    config_flags(s, NormalizationConfig, prefix="normalization.")

    s = add("evaluate", _cmd_evaluate, "Evaluate denoisers with CFAR detection; write report.json and report.md.")
    s.add_argument("--data", required=True, help="test dataset (.h5) with clean maps and targets")
    s.add_argument("--model", default=None, help="checkpoint (.pt); default: the shipped pretrained model")
    s.add_argument("--output", required=True, help="report directory")
    s.add_argument("--pfa", type=float, default=1e-4, help="design Pfa of the operating point")
    s.add_argument("--num-maps", type=int, default=0, help="evaluate the first N maps only (0: all)")
    s.add_argument("--calibration", default=None, metavar="FILE",
                   help="dataset whose maps set each method's thresholds (never scored); default: simulate "
                        "maps of the test file's scenario without targets")
    s.add_argument("--calibration-maps", type=int, default=0,
                   help="calibration maps (0: enough cells for Pfa 1e-6, at most 2000)")
    s.add_argument("--batch-size", type=int, default=32)
    s.add_argument("--device", default="auto")
    _inference_flags(s)

    s = add("clean", _cmd_clean, "Denoise recorded RD maps (HDF5, .npy, .npz, .mat) file to file.")
    s.add_argument("inputs", nargs="+", help="files, FILE.h5:/group/dataset, FILE.npz:name, directories or globs")
    s.add_argument("--model", default=None, help="checkpoint (.pt); default: the shipped pretrained model")
    s.add_argument("--output", required=True, help="output directory (never an input's directory)")
    s.add_argument("--units", choices=["power", "db", "magnitude", "complex"], default="power")
    s.add_argument("--axes", default=None, help="axis order of the stored array, e.g. RD, NRD, DRN (default NDR / DR)")
    s.add_argument("--batch-size", type=int, default=16)
    s.add_argument("--device", default="auto")
    _inference_flags(s)
    s.add_argument("--overwrite", action="store_true", help="redo outputs that already exist")
    s.add_argument("--max-memory", type=float, default=2048.0, metavar="MB",
                   help="largest single .npz/.mat array read whole (.npy and HDF5 are streamed in batches)")
    s.add_argument("--shard", default="0/1", metavar="K/N",
                   help="clean only the K-th of N parts of the file list (e.g. a SLURM array job; K from 0)")

    s = add("inject", _cmd_inject, "Add simulated targets to recorded RD maps: an evaluation set with ground truth "
                                   "in real clutter (score it with evaluate --calibration).")
    s.add_argument("inputs", nargs="+", help="recorded maps: files or FILE.h5:/dataset, FILE.npz:name (as clean reads "
                                             "them); all of one map size")
    s.add_argument("--output", required=True, help="the evaluation set to write (.h5): copies with targets added")
    s.add_argument("--backgrounds", required=True,
                   help="the recorded maps as they are (.h5), for evaluate --calibration; their movers are listed "
                        "as targets so that calibration leaves them out")
    s.add_argument("--units", choices=["power", "db", "magnitude", "complex"], default="power")
    s.add_argument("--axes", default=None, help="axis order of the stored array, e.g. RD, NRD, DRN (default NDR / DR)")
    s.add_argument("--copies", type=int, default=10, help="copies of each recorded map, each with its own targets")
    s.add_argument("--targets-per-map", type=int, nargs=2, default=[2, 6], metavar=("LOW", "HIGH"))
    s.add_argument("--snr-db", type=float, nargs=2, default=[0.0, 25.0], metavar=("LOW", "HIGH"),
                   help="on-bin peak over the range column's noise floor (median over Doppler / ln 2)")
    s.add_argument("--range-window", default="hann", help="the window the recording's range FFT used "
                                                          "(hann, hamming, blackman, rectangular, chebyshev:DB, taylor:DB)")
    s.add_argument("--doppler-window", default="hann", help="the window the recording's Doppler FFT used")
    s.add_argument("--ridge-half", type=int, default=5,
                   help="Doppler bins either side of zero Doppler (bin D/2) where no mover is looked for")
    s.add_argument("--range-bin-m", type=float, default=1.0, help="range bin size for the files' axes (default: bins)")
    s.add_argument("--velocity-bin-mps", type=float, default=1.0, help="Doppler bin size (default: bins)")
    s.add_argument("--seed", type=int, default=0)

    s = add("arch", _cmd_arch, "Show a U-Net's shapes level by level, parameters, MACs, receptive field.")
    config_flags(s, UNetConfig, prefix="model.")
    s.add_argument("--map-size", type=int, nargs=2, default=[64, 128], metavar=("D", "R"))
    s.add_argument("--output", default=None, help="also draw the architecture into this PNG")

    s = add("export", _cmd_export, "Export a denoiser to ONNX (dynamic batch and map size) for deployment.")
    s.add_argument("--model", default=None, help="checkpoint (.pt) or shipped model; default: the shipped model")
    s.add_argument("--output", required=True, help="the .onnx file to write")

    add("models", _cmd_models, "List the pretrained models shipped with the package.")
    add("presets", _cmd_presets, "List the scenario presets.")

    s = add("demo", _cmd_demo, "Run the whole pipeline on the default scenario and write a report; then score the shipped "
                               "model on the same test maps.")
    s.add_argument("--output", default="data/demo")
    s.add_argument("--quick", action="store_true", help="a one-minute smoke run")
    s.add_argument("--device", default="auto")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from rd_unet.config import ConfigError
    try:
        rc = args.fn(args)
    except (ConfigError, ValueError, FileExistsError, FileNotFoundError, OSError) as err:
        print(f"rd-unet {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        hint = {"simulate": "rerun the same command to resume",
                "clean": "rerun the same command: complete outputs are skipped",
                "train": "add --resume to the same command to continue from last.pt"}.get(args.command, "")
        print(f"rd-unet {args.command}: interrupted" + (f"; {hint}" if hint else ""), file=sys.stderr)
        return 130
    return int(rc or 0)


if __name__ == "__main__":
    raise SystemExit(main())
