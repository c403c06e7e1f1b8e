"""Physics-based FMCW range-Doppler map simulator (pure NumPy)."""
from rd_unet.sim.fmcw import RDSimulator, simulate_map
from rd_unet.sim import radar

__all__ = ["RDSimulator", "simulate_map", "radar"]
