import numpy as np
import pytest
import torch

ort = pytest.importorskip("onnxruntime")


def test_shipped_model_exports_and_onnx_runtime_matches_torch(tmp_path, capsys):
    """The exported graph has dynamic batch and size: ONNX Runtime's output equals
    PyTorch's within 1e-4 (relative to the largest value) on three map sizes: one that
    needs no padding, one padded by its mirror image, one shorter than its padding (6
    Doppler bins padded by 10: mirrored, then its last row repeated)."""
    from rd_unet.cli import main
    from rd_unet.model.inference import load_denoiser
    assert main(["export", "--output", str(tmp_path / "m.onnx")]) == 0
    assert "wrote" in capsys.readouterr().out and not list(tmp_path.glob("*.partial"))
    session = ort.InferenceSession(str(tmp_path / "m.onnx"))
    den, _, _ = load_denoiser(None, "cpu")
    for shape in [(1, 1, 64, 128), (3, 1, 37, 101), (2, 1, 6, 12)]:
        x = np.random.default_rng(0).exponential(size=shape).astype(np.float32)
        x[..., 5, 9] += 500.0
        got = session.run(None, {"power": x})[0]
        with torch.no_grad():
            want = den(torch.from_numpy(x)).numpy()
        assert got.shape == shape
        np.testing.assert_allclose(got, want, atol=1e-4 * np.abs(want).max())


def test_export_refuses_a_wrong_suffix(tmp_path, capsys):
    from rd_unet.cli import main
    assert main(["export", "--output", str(tmp_path / "m.pt")]) == 2
    assert "expected a file name ending in .onnx" in capsys.readouterr().err


def test_export_refuses_a_model_that_averages_over_doppler_shifts(tmp_path, capsys):
    from rd_unet.cli import main
    from rd_unet.model.checkpoint import with_normalization
    from rd_unet.model.pretrained import resolve_model
    shifted = with_normalization(resolve_model("default"), tmp_path / "s.pt", doppler_shifts=2)
    assert main(["export", "--model", str(shifted), "--output", str(tmp_path / "m.onnx")]) == 2
    assert "export: the model averages over 2 Doppler shifts" in capsys.readouterr().err
    assert not list(tmp_path.glob("m.onnx*"))
