"""lrc_utils: local rank, Deep VIB and mutual-information tools for the lrc book."""

from .config import data_dir, get_device, seed_everything
from .local_rank import count_singular_values_above, input_jacobians, local_rank, singular_values
from .models import ACTIVATIONS, MLP
from .training import FitConfig, fit
from .vib import VIB

__all__ = [
    "ACTIVATIONS",
    "MLP",
    "count_singular_values_above",
    "FitConfig",
    "fit",
    "data_dir",
    "get_device",
    "input_jacobians",
    "local_rank",
    "seed_everything",
    "singular_values",
    "VIB",
]
