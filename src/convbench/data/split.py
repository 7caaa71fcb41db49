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
            With ``by_groups``, when every group holds a single class and every class has a group for every
            part, the groups of each class are shared out on their own (so every part sees every class);
            otherwise the groups are shared out regardless of class.
        by_groups: keep every group of ``data.groups`` (e.g. an Omniglot alphabet, a Fruits-360 frame
            sequence) whole inside one part, so a part holds only groups the others have not seen;
            fractions then count groups, not images.

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
        by_class = _groups_by_class(data, len(shares)) if stratify else None
        keys, parts = [], []
        for groups in by_class or [unique]:  # one class, or no stratification: all groups in one draw
            keys.append(rng.permutation(groups))
            parts.append(_part_numbers(len(groups), shares, at_least_one=True))
        part = _lookup(np.concatenate(keys), np.concatenate(parts), data.groups)
    elif stratify:
        part = np.empty(len(data), dtype=np.int64)
        for label in np.unique(data.labels):
            members = rng.permutation(np.flatnonzero(data.labels == label))
            part[members] = _part_numbers(len(members), shares)
    else:
        part = rng.permutation(_part_numbers(len(data), shares))
    return tuple(data.take(np.flatnonzero(part == k)) for k in range(len(shares)))


def _groups_by_class(data: Split, parts: int) -> list[np.ndarray] | None:
    """The sorted groups of each class, by class; ``None`` when a group spans classes or a class has fewer
    groups than ``parts`` (the groups cannot then be shared out class by class)."""
    pairs = np.unique(np.stack([data.groups, data.labels]), axis=1)  # (2, distinct (group, label) pairs)
    if len(np.unique(pairs[0])) != pairs.shape[1]:
        return None
    by_class = [pairs[0, pairs[1] == label] for label in np.unique(pairs[1])]
    return by_class if min(len(groups) for groups in by_class) >= parts else None


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
