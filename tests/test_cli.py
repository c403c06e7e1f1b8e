"""The subcommands end to end on a tiny scenario."""
import h5py
import numpy as np

from rd_unet.cli import main


def test_simulate_show_merge(tmp_path, capsys):
    out = tmp_path / "d.h5"
    assert main(["simulate", "--scenario", "tiny", "--num-maps", "4", "--seed", "1", "--output", str(out), "--quiet"]) == 0
    png = tmp_path / "m.png"
    assert main(["show", str(out), "--index", "2", "--output", str(png), "--quiet"]) == 0
    assert png.read_bytes()[:4] == b"\x89PNG"
    for k in (0, 1):
        assert main(["simulate", "--scenario", "tiny", "--num-maps", "4", "--seed", "1", "--shard", f"{k}/2",
                     "--output", str(tmp_path / f"s{k}.h5"), "--quiet"]) == 0
    assert main(["merge", str(tmp_path / "s0.h5"), str(tmp_path / "s1.h5"), "--output", str(tmp_path / "m.h5")]) == 0
    with h5py.File(out) as a, h5py.File(tmp_path / "m.h5") as b:
        np.testing.assert_array_equal(a["noisy"][()], b["noisy"][()])


def test_errors_are_one_line_and_exit_2(tmp_path, capsys):
    assert main(["simulate", "--scenario", "nope", "--num-maps", "2", "--output", str(tmp_path / "x.h5")]) == 2
    err = capsys.readouterr().err
    assert "unknown scenario 'nope'" in err and "Traceback" not in err
    out = tmp_path / "d.h5"
    main(["simulate", "--scenario", "tiny", "--num-maps", "2", "--output", str(out), "--quiet"])
    assert main(["show", str(out), "--index", "5"]) == 2
    assert "out of range: the file holds 2 maps" in capsys.readouterr().err


def test_train_from_config_file_with_flag_overrides(tmp_path, tiny_dataset):
    from rd_unet.model.checkpoint import read_checkpoint
    cfg = tmp_path / "train.toml"
    cfg.write_text(f'[train]\ndata = "{tiny_dataset}"\noutput = "{tmp_path / "run"}"\nepochs = 5\nbatch_size = 8\n'
                   "[train.model]\ndepth = 2\nbase_channels = 4\n")
    assert main(["train", "--config", str(cfg), "--epochs", "1", "--target-floor", "1", "--quiet"]) == 0
    state = read_checkpoint(tmp_path / "run" / "last.pt")
    assert state["train_config"]["epochs"] == 1                       # the flag wins
    assert state["normalization"]["target_floor"] == 1.0               # and reaches the checkpoint
    assert state["model_config"]["depth"] == 2 and state["model_config"]["base_channels"] == 4


def test_train_rejects_a_negative_target_floor_by_its_flag(tmp_path, tiny_dataset, capsys):
    assert main(["train", "--data", str(tiny_dataset), "--output", str(tmp_path / "r"), "--target-floor", "-1",
                 "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "--target-floor" in err and ">= 0" in err and "Traceback" not in err
    assert not (tmp_path / "r").exists()


def test_train_rejects_bad_config(tmp_path, capsys):
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[train]\nbatch_sise = 8\n")
    assert main(["train", "--config", str(cfg), "--quiet"]) == 2
    assert "unknown key 'batch_sise'" in capsys.readouterr().err


def test_presets_and_models_listed(capsys):
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    for name in ("default", "automotive", "ground_surveillance", "maritime", "tiny"):
        assert name in out
    assert main(["models"]) == 0
    assert "default" in capsys.readouterr().out


def test_interrupt_gives_the_resume_hint(tmp_path, capsys, monkeypatch):
    import rd_unet.train.loop as loop

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(loop, "train", interrupted)
    assert main(["train", "--data", "x.h5", "--output", str(tmp_path)]) == 130
    assert "add --resume" in capsys.readouterr().err


def test_cli_reference_matches_the_parser(monkeypatch):
    """docs/cli.md shows every subcommand's --help (at 100 columns): flags are public
    names, so the reference may not drift from the parser."""
    import argparse
    from pathlib import Path

    from rd_unet.cli import build_parser

    monkeypatch.setenv("COLUMNS", "100")
    doc = (Path(__file__).resolve().parent.parent / "docs" / "cli.md").read_text()
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert set(sub.choices) >= {"simulate", "merge", "show", "train", "evaluate", "clean", "models", "presets", "demo"}
    for name, parser in sub.choices.items():
        assert f"## rd-unet {name}\n\n```\n{parser.format_help().rstrip()}\n```" in doc, \
            f"docs/cli.md is out of date for {name!r}: run python docs/make_cli_reference.py"


def test_target_noise_needs_a_file_simulated_with_store_noise(tmp_path, capsys):
    from rd_unet.model.checkpoint import read_checkpoint
    plain, noisy = tmp_path / "p.h5", tmp_path / "n.h5"
    assert main(["simulate", "--scenario", "tiny", "--num-maps", "8", "--output", str(plain), "--quiet"]) == 0
    assert main(["simulate", "--scenario", "tiny", "--num-maps", "8", "--output", str(noisy), "--store-noise",
                 "--quiet"]) == 0
    small = ["--epochs", "1", "--batch-size", "4", "--depth", "2", "--base-channels", "4", "--quiet"]
    assert main(["train", "--data", str(plain), "--output", str(tmp_path / "r"), "--target-noise", "0.1"] + small) == 2
    err = capsys.readouterr().err
    assert "p.h5: no 'noise' dataset" in err and "--store-noise" in err and "Traceback" not in err
    assert main(["train", "--data", str(noisy), "--output", str(tmp_path / "r"), "--target-noise", "0.1"] + small) == 0
    assert read_checkpoint(tmp_path / "r" / "last.pt")["normalization"]["target_noise"] == 0.1


def test_train_flags_given_override_an_init_checkpoint_even_at_their_default(tmp_path):
    """``--target-noise 0`` with --init means 0, not the checkpoint's value: the flags given
    are named in TrainConfig.init_overrides (a flag left out keeps the checkpoint's)."""
    from rd_unet.cli import _train_config, build_parser
    args = build_parser().parse_args(["train", "--data", "x.h5", "--init", "default", "--target-noise", "0"])
    assert _train_config(args).init_overrides == ("target_noise",)
    args = build_parser().parse_args(["train", "--data", "x.h5", "--init", "default"])
    assert _train_config(args).init_overrides == ()
    (tmp_path / "t.toml").write_text("[train]\ninit = 'default'\n[train.normalization]\ntarget_floor = 0.0\n")
    args = build_parser().parse_args(["train", "--data", "x.h5", "--config", str(tmp_path / "t.toml")])
    assert _train_config(args).init_overrides == ("target_floor",)
