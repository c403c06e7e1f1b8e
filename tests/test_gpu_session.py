"""simulations/gpu_session.sh, the prepared GPU session: it parses, and every flag it gives
the scripts it calls is one they accept (a renamed flag would cost a lent GPU's minutes)."""
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "simulations" / "gpu_session.sh"


def _help_flags(*command) -> set:
    out = subprocess.run([sys.executable, *command, "--help"], capture_output=True, text=True, check=True,
                         cwd=ROOT).stdout
    return set(re.findall(r"--[a-z][a-z-]*", out))


def test_the_script_parses():
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True)


def test_every_flag_the_session_passes_exists():
    text = SCRIPT.read_text()
    steps = [line for line in text.replace("\\\n", " ").splitlines() if line.startswith("step ")]
    calls = {"simulations/train_pretrained.py": ("simulations/train_pretrained.py",),
             "-m rd_unet demo": ("-m", "rd_unet", "demo"),
             "benchmarks/train.py": ("benchmarks/train.py",),
             "benchmarks/clean.py": ("benchmarks/clean.py",)}
    for marker, command in calls.items():
        line = [s for s in steps if marker in s]
        assert len(line) == 1, marker
        used = set(re.findall(r" (--[a-z][a-z-]*)", line[0]))
        assert used <= _help_flags(*command), (marker, used - _help_flags(*command))
    assert len(steps) == len(calls)
    # the smoke run in the header uses flags of train_pretrained.py too
    smoke = re.search(r'TRAIN_ARGS="([^"]*)"', text).group(1)
    assert set(re.findall(r"--[a-z][a-z-]*", smoke)) <= _help_flags("simulations/train_pretrained.py")
    bench = re.search(r'BENCH_ARGS="([^"]*)"', text).group(1)
    for command in ("benchmarks/train.py", "benchmarks/clean.py"):
        assert set(re.findall(r"--[a-z][a-z-]*", bench)) <= _help_flags(command)


def test_train_pretrained_refuses_a_bad_batch_workers_or_scale_before_building_anything(tmp_path):
    for flag, value in (("--batch-size", "0"), ("--workers", "0"), ("--mixture-scale", "-1")):
        r = subprocess.run([sys.executable, "simulations/train_pretrained.py", flag, value,
                            "--workdir", str(tmp_path / "w")], capture_output=True, text=True, cwd=ROOT)
        assert r.returncode == 2, (flag, r.stderr)
        assert "--workers and --batch-size must be at least 1 and --mixture-scale positive" in r.stderr
        assert "Traceback" not in r.stderr
    # the flags TrainConfig checks, before the mixture is built
    for flag, value, message in (("--device", "bogus", "device: expected 'auto', 'cpu', 'cuda', 'mps'"),
                                 ("--lr", "-1", "lr: expected a number > 0, got -1.0")):
        r = subprocess.run([sys.executable, "simulations/train_pretrained.py", flag, value,
                            "--workdir", str(tmp_path / "w")], capture_output=True, text=True, cwd=ROOT)
        assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert not (tmp_path / "w").exists()
