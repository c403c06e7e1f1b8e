"""The shipped model's training mixture (simulations/train_pretrained.py): the broad
mixtures nest, so every stage's cached files stay valid, and the Doppler-spread variants
really put targets over several Doppler bins of the simulated maps."""
import json

import numpy as np

from rd_unet.config import ClutterSet, replace_nested, to_dict
from rd_unet.sim import RDSimulator
from simulations.train_pretrained import mixture, randomized


def _spec(kind):
    return [(name, json.dumps(to_dict(sc)), n, k) for name, sc, n, k in mixture(kind)]


def test_each_broad_mixture_extends_the_previous_one_unchanged():
    kinds = ["broad", "broad2", "broad3", "broad4", "broad5", "broad6", "broad7", "broad8"]
    for small, large in zip(kinds, kinds[1:]):
        a, b = _spec(small), _spec(large)
        assert len(b) > len(a) and b[:len(a)] == a, (small, large)
    for small, probe in (("broad6", "broad6_ridge"), ("broad7", "broad8_onridge"), ("broad7", "broad9"),
                         ("broad9", "broad10"), ("broad9", "broad11")):  # (beside the chain)
        a, b = _spec(small), _spec(probe)
        assert len(b) > len(a) and b[:len(a)] == a


def _doppler_spans(variants, rng, maps=6):
    """Doppler extent (bins between the first and last row within 10 dB of the peak) of
    every extended target in noise- and clutter-free maps of these variants."""
    spans = []
    for _, sc, _, _ in variants:
        sc = replace_nested(sc, **{"clutter": ClutterSet(), "interference.enabled": False,
                                   "radar.range_window": "hann", "radar.doppler_window": "hann",
                                   "targets.count": (1, 1), "targets.snr_db": (40.0, 40.0),
                                   "targets.extended_fraction": 1.0, "targets.swerling": (0,)})
        sim = RDSimulator(sc)
        for _ in range(maps):
            m = sim.simulate(rng)
            t = m.targets[0]
            r0 = int(t["range_bin"])
            profile = m.clean[:, max(r0 - 3, 0):r0 + 4].max(axis=1)
            rows = np.flatnonzero(profile >= profile.max() / 10)
            if rows[-1] - rows[0] < m.clean.shape[0] // 2:      # (skip the few wrapped around the edge)
                spans.append(rows[-1] - rows[0] + 1)
    return np.array(spans)


def test_doppler_spread_variants_spread_targets_over_several_doppler_bins():
    """A uniform cloud of scatterers over E bins, each a Hann main lobe (-10 dB at about
    +-1.1 bins), spans at most about E + 2 bins (less where a few scatterers with random
    phases leave the cloud's edges weak); the extent is drawn in 2-12 bins, so spans
    lie in about 3..14, against at most about 5 (median 3) for the extended targets of
    the first randomised variants (0.3-1.0 m/s, under 2.6 bins)."""
    rng = np.random.default_rng(5)
    spread = _doppler_spans(randomized(8, 1, seed=17, tag="m", doppler_spread_targets=True), rng)
    plain = _doppler_spans(randomized(8, 1, seed=7), rng)
    assert len(spread) >= 40 and len(plain) >= 40
    assert np.median(spread) >= 6 and spread.max() <= 16, np.sort(spread)
    assert np.median(plain) <= 4, np.sort(plain)


def test_every_mixture_is_described_in_a_sentence_not_a_list_of_its_variants():
    """The model card's "training data" line: broad4 once fell through to the list of
    all 266 scenario names."""
    from simulations.train_pretrained import describe_mixture
    for kind in ("base", "full", "random", "broad", "broad2", "broad3", "broad4", "broad5", "broad6", "broad7",
                 "broad8", "broad9", "broad10", "broad11", "broad6_ridge", "broad8_onridge"):
        text = describe_mixture(kind)
        assert "random_" not in text and len(text) < 1500, kind
    assert "Doppler" in describe_mixture("broad4") and "rectangular" in describe_mixture("broad5")
    assert "ridge" in describe_mixture("broad6_ridge") and "channels" in describe_mixture("broad7")
    assert "75 dB" in describe_mixture("broad8")
    assert "ground clutter 40-75 dB" in describe_mixture("broad10")
    assert "inside the band" in describe_mixture("broad11")


def _ridge_offsets(variants, rng, maps=4):
    """Per variant, the Doppler-bin offsets (circular, signed) of its targets' peaks from
    the ground clutter's ridge, both measured on simulated maps: the ridge as the row of
    most power in a map of the variant's clutter alone (made strong and spread wide in
    range so that it is unmistakable), the targets as the peak row near their range bin
    in the clean map."""
    out = []
    for _, sc, _, _ in variants:
        g = sc.clutter.ground
        if not g.enabled:
            out.append(None)
            continue
        alone = replace_nested(sc, **{"targets.count": (0, 0), "interference.enabled": False,
                                      "clutter": ClutterSet(ground=replace_nested(g, cnr_db=(50.0, 50.0), range_exponent=0.0))})
        ridge_map = RDSimulator(alone).simulate(rng).noisy
        ridge = int(np.argmax(ridge_map.sum(axis=1)))
        sc = replace_nested(sc, **{"clutter": ClutterSet(), "interference.enabled": False,
                                   "targets.count": (3, 3), "targets.snr_db": (40.0, 40.0),
                                   "targets.extended_fraction": 0.0})
        sim, offsets = RDSimulator(sc), []
        for _ in range(maps):
            m = sim.simulate(rng)
            d = m.clean.shape[0]
            for t in m.targets:
                r0 = int(t["range_bin"])
                row = int(np.argmax(m.clean[:, max(r0 - 1, 0):r0 + 2].max(axis=1)))
                offsets.append((row - ridge + d // 2) % d - d // 2)
        out.append(np.array(offsets))
    return out


def test_near_ridge_variants_put_every_target_beside_the_clutter_ridge_on_one_side():
    """broad7's variants: measured on the maps, every target within 0.5-16 Doppler bins
    of the ridge (peaks fall on whole bins: 0..17 allowing one bin of rounding), all on
    one side per variant; the plain randomised variants (targets uniform over Doppler)
    have most targets farther than 16 bins on their larger maps."""
    rng = np.random.default_rng(3)
    near = _ridge_offsets(randomized(6, 1, seed=29, tag="r", doppler_spread_targets=True,
                                     extent_bins=((1.0, 6.0), (1.0, 3.0)), near_ridge_bins=(0.5, 16.0)), rng)
    assert all(o is not None for o in near), "near-ridge variants must have ground clutter"
    for o in near:
        assert np.abs(o).max() <= 17, o
        assert (o >= 0).all() or (o <= 0).all(), o
    everything = np.concatenate(near)
    assert np.median(np.abs(everything)) <= 10, everything
    plain = [o for o in _ridge_offsets(randomized(12, 1, seed=7), rng) if o is not None]
    wide = np.concatenate(plain)
    assert np.mean(np.abs(wide) > 17) > 0.3, wide


def test_channel_variants_average_several_channels_and_their_noise_fluctuates_less():
    """broad7's variants: 2-16 channels, and measured on noise-only maps of each the
    cells' power has variance 1/K (Gamma of shape K; exponential noise has 1), within
    25 % (a Hann-windowed map's cells are correlated, so 40 maps of at least 64 x 64
    cells give a few thousand effectively independent ones); the SNR range moved down."""
    variants = mixture("broad7")[len(mixture("broad6")):]
    assert len(variants) == 48
    ks = [sc.radar.noncoherent_channels for _, sc, _, _ in variants]
    assert min(ks) >= 2 and max(ks) <= 16 and len(set(ks)) >= 5
    rng = np.random.default_rng(11)
    for _, sc, _, _ in variants[:6]:
        k = sc.radar.noncoherent_channels
        quiet = replace_nested(sc, **{"clutter": ClutterSet(), "interference.enabled": False, "targets.count": (0, 0),
                                      "radar.noise_slope_db": 0.0})
        sim = RDSimulator(quiet)
        cells = np.concatenate([sim.simulate(rng).noisy.ravel() for _ in range(40)])
        assert abs(cells.mean() - 1.0) < 0.05, (k, cells.mean())
        assert 0.75 <= cells.var() * k <= 1.25, (k, cells.var())
    assert min(sc.targets.snr_db[0] for _, sc, _, _ in variants) < -7.0

def _strongest_peaks_db(variants, rng, maps=4):
    """Per variant, the strongest cell of its maps (clutter and interference off, one flat
    floor) over the noise floor measured on the same map (median / ln 2, the mean of
    exponential noise; targets cover a few per cent of the cells), in dB."""
    out = []
    for _, sc, _, _ in variants:
        sc = replace_nested(sc, **{"clutter": ClutterSet(), "interference.enabled": False, "radar.noise_slope_db": 0.0,
                                   "targets.count": (4, 4)})
        sim = RDSimulator(sc)
        peaks = [np.max(m.noisy) / (np.median(m.noisy) / np.log(2)) for m in (sim.simulate(rng) for _ in range(maps))]
        out.append(10 * np.log10(max(peaks)))
    return np.array(out)


def test_strong_target_variants_reach_far_above_the_floor_where_the_others_stay_below_30_db():
    """broad8's variants: measured on the maps, the strongest target of four maps of
    four targets stands 40 dB or more above the floor in most variants and 55 dB or more
    in some, where the earlier randomised variants' stand below 30 dB (their SNR range
    tops out at 12-35 dB, and windows, off-grid positions and extended targets take a
    few dB off the on-bin SNR)."""
    rng = np.random.default_rng(4)
    strong = _strongest_peaks_db(mixture("broad8")[len(mixture("broad7")):][:10], rng)
    plain = _strongest_peaks_db(randomized(10, 1, seed=7), rng)
    assert np.median(strong) >= 40 and strong.max() >= 55, np.round(strong, 1)
    assert plain.max() <= 30, np.round(plain, 1)


def test_near_ridge_share_puts_about_that_share_of_the_variants_beside_the_ridge():
    """With near_ridge_share 0.5, the variants whose targets all lie within 17 Doppler
    bins of the ridge on one side (measured as in the test above) are about half of
    them; the others spread their targets over the map."""
    rng = np.random.default_rng(8)
    offsets = _ridge_offsets(randomized(12, 1, seed=43, tag="s", near_ridge_bins=(3.0, 16.0), near_ridge_share=0.5),
                             rng, maps=6)
    beside = [o is not None and np.abs(o).max() <= 17 and ((o >= 0).all() or (o <= 0).all()) for o in offsets]
    assert 3 <= sum(beside) <= 9, beside
    # broad8's band starts 3 bins out: its targets keep off the ridge itself (2 allowing a
    # bin of rounding), where a target and a clutter spike look alike
    near = np.concatenate([o for o, b in zip(offsets, beside) if b])
    assert np.abs(near).min() >= 2, np.sort(np.abs(near))


def test_ridge_gap_keeps_every_target_off_the_ridge():
    """broad9's variants: measured on the maps, no target peak within 2 Doppler bins of
    the ground clutter's ridge (the gap is 4 bins for the variants spread over the map, 3
    for those beside the ridge; a bin of rounding and an extended target's spread allowed),
    where broad8_onridge's variants put some on it."""
    rng = np.random.default_rng(12)
    gap = [o for o in _ridge_offsets(mixture("broad9")[len(mixture("broad7")):][:10], rng) if o is not None]
    assert len(gap) >= 5
    assert np.abs(np.concatenate(gap)).min() >= 2, [np.sort(np.abs(o)) for o in gap]
    onridge = [o for o in _ridge_offsets(mixture("broad8_onridge")[len(mixture("broad7")):][:10], rng) if o is not None]
    assert np.abs(np.concatenate(onridge)).min() <= 1


def _strongest_clutter_db(variants, rng):
    """Per variant, the strongest cell of one map of its clutter alone (targets and
    interference off, one flat floor) over the floor measured on a map of the same radar
    with everything off (median / ln 2, the mean of exponential noise), in dB."""
    out = []
    for _, sc, _, _ in variants:
        quiet = {"targets.count": (0, 0), "interference.enabled": False, "radar.noise_slope_db": 0.0}
        clutter = RDSimulator(replace_nested(sc, **quiet)).simulate(rng).noisy
        noise = RDSimulator(replace_nested(sc, **quiet, clutter=ClutterSet())).simulate(rng).noisy
        out.append(10 * np.log10(clutter.max() / (np.median(noise) / np.log(2))))
    return np.array(out)


def test_strong_clutter_variants_stand_far_above_where_the_others_stop_and_keep_targets_off_the_ridge():
    """broad10's variants: measured on the maps, ground clutter's strongest cell stands
    at least 37 dB above the floor in every variant (drawn 40-75 dB at its near edge; a
    few dB of window loss and range spread allowed) and 60 dB or more in some, where the
    ground clutter of the earlier randomised variants stays below about 50 dB (drawn 0-35
    dB, plus 3-12); and, as broad9's, no target peak within 2 Doppler bins of the ridge."""
    rng = np.random.default_rng(14)
    extra = mixture("broad10")[len(mixture("broad9")):]
    assert len(extra) == 32 and all(sc.clutter.ground.enabled for _, sc, _, _ in extra)
    strong = _strongest_clutter_db(extra[:8], rng)
    plain = _strongest_clutter_db([v for v in randomized(16, 1, seed=7) if v[1].clutter.ground.enabled][:8], rng)
    assert strong.min() >= 37 and strong.max() >= 60, np.round(strong, 1)
    assert plain.max() <= 52, np.round(plain, 1)
    gap = [o for o in _ridge_offsets(extra[:8], rng) if o is not None]
    assert np.abs(np.concatenate(gap)).min() >= 2, [np.sort(np.abs(o)) for o in gap]


def _share_in_bands(variants, rng, maps=3):
    """Per variant with drifting or volume clutter, the share of its targets whose peak
    (the clean map's strongest cell within 2 cells of the table's bin) falls in a cell
    where that clutter, alone and made 30 dB strong, stands 10 dB or more above the floor
    (the mask grown by a cell); measured on simulated maps."""
    out = []
    for _, sc, _, _ in variants:
        moving = [k for k in ("drifting", "volume") if getattr(sc.clutter, k).enabled]
        if not moving:
            continue
        quiet = {"targets.count": (0, 0), "interference.enabled": False, "radar.noise_slope_db": 0.0}
        mask = None
        for k in moving:
            strong = replace_nested(getattr(sc.clutter, k), cnr_db=(30.0, 30.0))
            band = RDSimulator(replace_nested(sc, **quiet, clutter=ClutterSet(**{k: strong}))).simulate(rng).noisy
            m = 10 * np.log10(band / np.log(2)) > 10          # (a floor of mean 1: median ln 2 of the noise)
            mask = m if mask is None else mask | m
        grown = mask | np.roll(mask, 1, axis=0) | np.roll(mask, -1, axis=0)     # (Doppler wraps)
        grown[:, 1:] |= mask[:, :-1]                                              # (range does not)
        grown[:, :-1] |= mask[:, 1:]
        inside = []
        for _ in range(maps):
            sim = RDSimulator(replace_nested(sc, clutter=ClutterSet(), **{"interference.enabled": False})).simulate(rng)
            for t in sim.targets:
                d0, r0 = int(t["doppler_bin"]), int(t["range_bin"])
                d_lo, r_lo = max(d0 - 2, 0), max(r0 - 2, 0)
                win = sim.clean[d_lo:d0 + 3, r_lo:r0 + 3]
                d, r = np.unravel_index(np.argmax(win), win.shape)
                inside.append(grown[d_lo + d, r_lo + r])
        if inside:
            out.append(float(np.mean(inside)))
    return np.array(out)


def test_in_band_variants_put_their_targets_inside_a_drifting_or_volume_clutter_band():
    """broad11's variants: every one has drifting or volume clutter, and in most of them
    (three quarters drawn) every target peak lies in its band, measured on the maps; in the
    earlier randomised variants with such clutter, targets fall in a band far less often."""
    rng = np.random.default_rng(15)
    extra = mixture("broad11")[len(mixture("broad9")):]
    assert len(extra) == 32
    assert all(sc.clutter.drifting.enabled or sc.clutter.volume.enabled for _, sc, _, _ in extra)
    in_band = _share_in_bands(extra[:12], rng)
    plain = _share_in_bands(randomized(40, 1, seed=7), rng)
    assert len(in_band) == 12 and len(plain) >= 10
    assert np.mean(in_band == 1.0) >= 0.5, np.round(in_band, 2)
    assert np.median(plain) <= 0.3 and np.mean(plain == 1.0) <= 0.2, np.round(plain, 2)


def test_a_scaled_mixture_is_built_apart_with_the_same_maps_whatever_the_number_of_workers(tmp_path):
    """--mixture-scale: every dataset scaled (16 maps at least), its own files, so a scaled
    run never reuses or spoils the full mixture's; --workers: the maps do not depend on it."""
    import h5py
    from simulations.train_pretrained import CROP, build_mix
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    one = build_mix(tmp_path / "one", "train", 1000, 1.0, kind="base", workers=1, scale=0.001)
    two = build_mix(tmp_path / "two", "train", 1000, 1.0, kind="base", workers=2, scale=0.001)
    assert one.name == "mix_train_x0.001.h5"
    expected = 0
    for name, sc, n, _ in mixture("base"):
        maps = max(16, int(n * 0.001))
        assert h5py.File(tmp_path / "one" / f"{name}_train_x0.001.h5")["noisy"].shape[0] == maps
        expected += maps * max(1, sc.radar.chirps_per_frame * sc.radar.samples_per_chirp // (CROP[0] * CROP[1]))
    with h5py.File(one) as a, h5py.File(two) as b:
        assert a["noisy"].shape == (expected,) + CROP
        np.testing.assert_array_equal(a["noisy"][()], b["noisy"][()])
        assert json.loads(a.attrs["mixture"])["scale"] == 0.001
    assert not (tmp_path / "one" / "mix_train.h5").exists()
