"""The MI estimators: readings of the study's tables (pure functions: tables in, tables or text out)."""

from __future__ import annotations

import pandas as pd


def monte_carlo_within_bounds(mix: pd.DataFrame, n_stderr: float = 4.0) -> pd.Series:
    """Per row of the mixture-entropy table: does the Monte Carlo entropy lie between the KDE lower and upper
    bounds, within ``n_stderr`` of its standard errors?"""
    slack = n_stderr * mix.stderr
    return (mix.kde_lower <= mix.monte_carlo + slack) & (mix.monte_carlo - slack <= mix.kde_upper)
