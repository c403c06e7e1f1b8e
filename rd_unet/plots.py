"""Figures for people: RD panels with m and m/s axes, ROC, Pd vs SNR, gain distributions."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


from rd_unet.maps import power_to_db  # noqa: E402

DISPLAY_FLOOR = 1e-3        # -30 dB re the noise: the floor of every displayed map


def _db(power):
    return power_to_db(power, DISPLAY_FLOOR)


def rd_panels(maps: dict, range_m, velocity_mps, output, *, targets=None, title="", vmin_db=-10.0, vmax_db=None):
    """Draw maps (name -> (D, R) linear power) side by side in dB, with targets circled."""
    names = list(maps)
    if vmax_db is None:
        vmax_db = max(float(_db(m).max()) for m in maps.values())
    dr = range_m[1] - range_m[0] if len(range_m) > 1 else 1.0
    dv = velocity_mps[1] - velocity_mps[0] if len(velocity_mps) > 1 else 1.0
    extent = [range_m[0] - dr / 2, range_m[-1] + dr / 2, velocity_mps[0] - dv / 2, velocity_mps[-1] + dv / 2]
    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names) + 0.8, 3.8), squeeze=False,
                             constrained_layout=True)
    for ax, name in zip(axes[0], names):
        im = ax.imshow(_db(maps[name]), origin="lower", aspect="auto", extent=extent, cmap="viridis",
                       vmin=vmin_db, vmax=vmax_db, interpolation="nearest")
        if targets is not None and len(targets):
            ax.scatter(targets["range_m"], targets["velocity_mps"], s=90, facecolors="none",
                       edgecolors="red", linewidths=1.2, label="true targets")
        ax.set_title(name)
        ax.set_xlabel("range (m)")
        ax.set_ylabel("radial velocity (m/s)")
    if targets is not None and len(targets):
        axes[0][0].legend(loc="upper right", fontsize=7)
    fig.colorbar(im, ax=axes[0].tolist(), label="power re noise (dB)")
    if title:
        fig.suptitle(title)
    fig.savefig(output, dpi=110)
    plt.close(fig)


def roc_plot(curves: dict, output):
    """curves: name -> (pfa (K,), pd (K,)); log-scaled Pfa axis."""
    fig, ax = plt.subplots(figsize=(5.5, 4.2), constrained_layout=True)
    for name, (pfa, pd) in curves.items():
        ax.plot(np.maximum(pfa, 1e-7), pd, label=name)
    for p in (1e-4, 1e-3):
        ax.axvline(p, color="grey", lw=0.6, ls=":")
    ax.set_xscale("log")
    ax.set_xlim(1e-6, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("false-alarm rate on the test background (threshold calibrated on other maps)")
    ax.set_ylabel("probability of detection")
    ax.set_title("ROC after CA-CFAR normalisation")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.savefig(output, dpi=110)
    plt.close(fig)


def pd_vs_snr_plot(curves: dict, edges_db, output, pfa, ceiling=None):
    """Pd per SNR band of each method; ``ceiling``: the noise-limited ideal detector's, dashed."""
    centres = 0.5 * (np.asarray(edges_db[:-1]) + np.asarray(edges_db[1:]))
    fig, ax = plt.subplots(figsize=(5.5, 4.2), constrained_layout=True)
    for name, pd in curves.items():
        ax.plot(centres, pd, marker="o", label=name)
    if ceiling is not None:
        ax.plot(centres, ceiling, "k--", marker=".", label="ideal (noise-limited)")
    ax.set_xlabel("target SNR (dB, on-bin peak over noise)")
    ax.set_ylabel(f"probability of detection at Pfa = {pfa:g}")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("Pd vs SNR at matched empirical Pfa")
    fig.savefig(output, dpi=110)
    plt.close(fig)


def gain_hist_plot(gains: dict, output, xlabel="mask SINR gain per map (dB)"):
    fig, ax = plt.subplots(figsize=(5.5, 4.2), constrained_layout=True)
    finite = [g[np.isfinite(g)] for g in gains.values()]
    lo = min((f.min() for f in finite if f.size), default=-1)
    hi = max((f.max() for f in finite if f.size), default=1)
    bins = np.linspace(lo, hi, 30) if hi > lo else 10
    for (name, _), f in zip(gains.items(), finite):
        ax.hist(f, bins=bins, histtype="step", lw=1.5, label=name)
    ax.axvline(0, color="k", lw=0.6)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("number of maps")
    ax.legend(fontsize=8)
    ax.set_title("SNR-gain distribution")
    fig.savefig(output, dpi=110)
    plt.close(fig)


def loss_curve_plot(epochs, train_loss, val_loss, output):
    fig, ax = plt.subplots(figsize=(5.5, 4.0), constrained_layout=True)
    ax.plot(epochs, train_loss, marker=".", label="train")
    if val_loss is not None and np.isfinite(val_loss).any():
        ax.plot(epochs, val_loss, marker=".", label="validation")
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (normalised domain)")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    fig.savefig(output, dpi=110)
    plt.close(fig)


def architecture_plot(desc: dict, output):
    """The levels of ``rd_unet.model.summary.describe_architecture`` as boxes: height ~ map
    size, width ~ channels, encoder down the left, decoder up the right."""
    levels = desc["levels"]
    depth = desc["config"].depth
    fig, ax = plt.subplots(figsize=(8, 1.2 + 0.9 * (depth + 1)), constrained_layout=True)
    biggest = max(lv["shape"][1] for lv in levels)
    for i, lv in enumerate(levels):
        b, c, d, r = lv["shape"]
        if lv["name"].startswith(("encoder", "bottleneck")):
            x, y = 0.0, -i
        elif lv["name"].startswith("decoder"):
            x, y = 2.6, -int(lv["name"].split()[1])
        else:
            x, y = 4.2, 0
        w = 0.3 + 1.2 * c / biggest
        ax.add_patch(plt.Rectangle((x, y - 0.35), w, 0.7, color="C0" if x == 0 else "C1", alpha=0.6))
        ax.text(x + w + 0.05, y, f"{lv['name']}\n{c} x {d} x {r}, {lv['parameters']:,d} p", va="center", fontsize=7)
    c = desc["config"]
    ax.set_title(f"{c.arch}, depth {c.depth}, base {c.base_channels}: {desc['parameters']:,d} parameters, "
                 f"{desc['macs_per_map'] / 1e9:.2f} GMAC/map, receptive field {desc['receptive_field'][0]} x "
                 f"{desc['receptive_field'][1]}", fontsize=8)
    ax.set_xlim(-0.2, 6.5)
    ax.set_ylim(-depth - 0.8, 0.8)
    ax.axis("off")
    fig.savefig(output, dpi=110)
    plt.close(fig)
