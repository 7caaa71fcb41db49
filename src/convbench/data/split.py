"""Seeded, stratified, group-aware splits of one :class:`Split` into disjoint parts."""

from __future__ import annotations

import numpy as np

from convbench.data.dataset import Split
from convbench.errors import ConfigError


def split(data: Split, fractions: tuple[float, ...] = (0.9, 0.1), *, seed: int = 0, stratify: bool = True,
          by_groups: bool = False) -> tuple[Split, ...]:
    """Cut ``data`` into disjoint parts of the given fractions (no image in two parts).

    Args:
        data: the split to cut.
        fractions: one positive share per part, summing to 1.
        seed: fixes the assignment: the same seed gives the same parts.
        stratify: keep each class's share the same in every part (per class rounding, largest remainder).
        by_groups: keep every group of ``data.groups`` (e.g. an Omniglot alphabet) whole inside one part,
            so a test part holds only unseen groups; fractions then count groups, not images.

    Raises:
        ConfigError: bad fractions, or ``by_groups`` without groups / with fewer groups than parts.
    """
    shares = np.asarray(fractions, dtype=np.float64)
    if shares.ndim != 1 or len(shares) < 1 or (shares <= 0).any() or abs(shares.sum() - 1) > 1e-6:
        raise ConfigError(f"split fractions must be positive and sum to 1, got fractions={tuple(fractions)!r}")
    rng = np.random.default_rng(seed)
    if by_groups:
        if data.groups is None:
            raise ConfigError("by_groups=True needs a split with groups (e.g. Omniglot alphabets)")
        unique = np.unique(data.groups)
        if len(unique) < len(shares):
            raise ConfigError(f"cannot cut {len(unique)} groups into {len(shares)} parts")
        groups = rng.permutation(unique)
        part = _lookup(groups, _part_numbers(len(groups), shares, at_least_one=True), data.groups)
    elif stratify:
        part = np.empty(len(data), dtype=np.int64)
        for label in np.unique(data.labels):
            members = rng.permutation(np.flatnonzero(data.labels == label))
            part[members] = _part_numbers(len(members), shares)
    else:
        part = rng.permutation(_part_numbers(len(data), shares))
    return tuple(data.take(np.flatnonzero(part == k)) for k in range(len(shares)))


def _lookup(keys: np.ndarray, values: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """``values[i]`` for each query equal to ``keys[i]`` (vectorised dictionary lookup)."""
    order = np.argsort(keys)
    return values[order][np.searchsorted(keys[order], queries)]


def _part_numbers(n: int, shares: np.ndarray, at_least_one: bool = False) -> np.ndarray:
    """``n`` part numbers, sorted, in the proportions ``shares`` (largest-remainder rounding)."""
    exact = shares * n
    counts = np.floor(exact).astype(np.int64)
    for k in np.argsort(-(exact - counts), kind="stable")[: n - counts.sum()]:
        counts[k] += 1
    if at_least_one:  # every part gets at least one item: take from the largest part
        for k in np.flatnonzero(counts == 0):
            counts[np.argmax(counts)] -= 1
            counts[k] += 1
    return np.repeat(np.arange(len(shares)), counts)
