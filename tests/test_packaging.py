"""The package as users install it: a wheel built from this tree, installed into a fresh
virtual environment, run from an unrelated directory (presets and the shipped model are
package data)."""
import os
import shutil
import site
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(bin dir, env) of a fresh venv holding only the built wheel; its dependencies come
    from this environment's site-packages through a .pth line (not as site dirs, so the
    editable install of the source tree there is not activated)."""
    tmp = tmp_path_factory.mktemp("wheel")
    dist = tmp / "dist"
    # built from a copy: setuptools writes build/ and *.egg-info beside the sources
    src = tmp / "src"
    top_level = {".git", ".venv", "data", "build", "dist", ".pytest_cache"}
    shutil.copytree(ROOT, src, ignore=lambda d, names: [n for n in names if n == "__pycache__" or n.endswith(
        ".egg-info") or (Path(d) == ROOT and n in top_level)])
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist),
                    str(src)], check=True, cwd=tmp, capture_output=True)
    wheel = next(dist.glob("rd_unet-*.whl"))
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
    py = venv / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)], check=True,
                   capture_output=True)
    purelib = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    deps = [p for p in site.getsitepackages() + [sysconfig.get_paths()["purelib"]] if Path(p).is_dir()]
    (Path(purelib) / "_deps_from_test.pth").write_text("\n".join(dict.fromkeys(deps)) + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "RD_UNET_PRESETS")}
    env["OMP_NUM_THREADS"] = "1"
    return venv / "bin", env, tmp


def run(installed, *args):
    bin_dir, env, cwd = installed
    proc = subprocess.run([str(bin_dir / "rd-unet"), *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_wheel_runs_from_an_unrelated_directory(installed):
    bin_dir, env, cwd = installed
    where = subprocess.run([str(bin_dir / "python"), "-c", "import rd_unet; print(rd_unet.__file__)"], cwd=cwd,
                           env=env, capture_output=True, text=True, check=True).stdout
    assert str(ROOT) not in where                       # the wheel's copy, not the source tree
    out = run(installed, "presets")
    for name in ("default", "tiny", "automotive", "ground_surveillance", "maritime"):
        assert name in out
    run(installed, "simulate", "--scenario", "tiny", "--num-maps", "4", "--output", "t.h5", "--quiet")
    np.save(cwd / "maps.npy", np.random.default_rng(0).exponential(size=(2, 32, 64)).astype(np.float32))
    run(installed, "clean", "maps.npy", "--output", "cleaned", "--quiet")
    cleaned = np.load(cwd / "cleaned" / "maps.npy")
    assert cleaned.shape == (2, 32, 64) and np.all(np.isfinite(cleaned))


@pytest.mark.slow
def test_wheel_runs_the_quick_demo(installed):
    # (slow: the same pipeline as tests/test_demo.py, about 30 s, here from the wheel)
    out = run(installed, "demo", "--quick", "--output", "demo", "--quiet")
    assert "best classical method" in out
