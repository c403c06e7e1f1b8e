"""Evaluation: CFAR detectors, SNR-gain and detection metrics, baselines, plots, report."""
