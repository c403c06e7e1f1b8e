"""Evaluation: CFAR detectors, SNR-gain and detection metrics, baselines, plots, report."""
from rd_unet.eval.cfar import ca_statistic, cfar_2d
from rd_unet.eval.report import EvalConfig, evaluate

__all__ = ["cfar_2d", "ca_statistic", "EvalConfig", "evaluate"]
