"""The duration grid every estimate shares, and the normal and lognormal CDFs on it."""

from __future__ import annotations

import math

import numpy as np

from pacing.types import FloatArray

# One grid for every duration: 0.05 s to 2 h, about 4.6 % per bin.
GRID_LO = 0.05
GRID_HI = 7200.0
GRID_BINS = 256
EDGES: FloatArray = np.concatenate(([0.0], np.geomspace(GRID_LO, GRID_HI, GRID_BINS)))


def lognormal_cdf(x: FloatArray, median: float, sigma: float) -> FloatArray:
    """CDF of a lognormal with this median and log-sd, at `x` (0 for x <= 0)."""
    x = np.asarray(x, dtype=np.float64)
    z = np.full(x.shape, -np.inf)
    pos = x > 0
    z[pos] = (np.log(x[pos]) - math.log(median)) / sigma
    return normal_cdf(z)


def normal_cdf(z: FloatArray) -> FloatArray:
    """Standard normal CDF, vectorised (Abramowitz-Stegun 7.1.26, |error| < 1.5e-7)."""
    z = np.asarray(z, dtype=np.float64)
    x = np.abs(z) / math.sqrt(2.0)
    t = 1.0 / (1.0 + 0.3275911 * x)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741
                + t * (-1.453152027 + t * 1.061405429))))
    erf = 1.0 - poly * np.exp(-x * x)
    return 0.5 * (1.0 + np.sign(z) * erf)
