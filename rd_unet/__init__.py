"""rd_unet: denoising radar range-Doppler maps.

Maps are ``(num_doppler_bins, num_range_bins)`` arrays of linear power; see
:mod:`rd_unet.config` for the axis convention.
"""
__version__ = "0.14.0"


def clean_maps(maps, model=None, **kwargs):
    """Denoise power maps (D, R) or (N, D, R) with a checkpoint; see :func:`rd_unet.model.inference.clean_maps`."""
    from rd_unet.model.inference import clean_maps as _clean_maps
    return _clean_maps(maps, model, **kwargs)


__all__ = ["__version__", "clean_maps"]
