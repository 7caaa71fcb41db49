"""How well an exit rejects redundant images, and the threshold that meets a stated goal: one home for both.

An exit deployed behind a camera sees images from sources it never trained on, so its decision is scored the way
out-of-distribution detection work scores a detector (Hendrycks & Gimpel, "A Baseline for Detecting Misclassified
and Out-of-Distribution Examples", ICLR 2017): the AUROC of the score P(redundant) (main vs redundant, threshold-
free) and the false-positive rate at 95 % true-positive rate, here the share of *main* images that exit when the
threshold lets 95 % of the redundant ones exit. Both come from scikit-learn's ``roc_auc_score`` / ``roc_curve``.

The threshold is then chosen on the validation split, never the test split, for one stated goal:

- ``max_false_exit = g``: at most ``g`` of the main-class validation images exit (the lowest such threshold, which
  lets the most redundant images exit);
- ``exit_rate = R``: at most ``R`` of all validation images exit (the lowest such threshold).

A goal is only as good as the images it is counted on: 0.1 % of 516 main images is less than one image, so the
threshold then sits just above the highest main-class score seen, and new images exceed it more often (measured:
0.19 % of the MNIST test images, benchmarks/results/early_exit_open_world.md). The calibration records the one-sided
95 % upper bound of the rate it reached (Clopper-Pearson) and warns when the split cannot resolve the goal.

With a ``confidence`` (e.g. 0.95) the goal holds for new images, not just the counted ones: the threshold lets exit
only as many counted images ``k`` as keep the one-sided Clopper-Pearson upper bound of the rate at or under the
target. With the threshold just above the ``k+1``-th highest of ``n`` exchangeable scores, a new image exceeds it
with probability above the target only when Binomial(n, target) ≤ k, which the bound makes at most
``1 − confidence`` likely (a distribution-free tolerance limit; Bates et al., "Distribution-Free,
Risk-Controlling Prediction Sets", JACM 2021). It needs ``n ≥ ln(1 − confidence) / ln(1 − target)`` counted
images (2,995 for 0.1 % at 95 %); fewer is an error naming how many.

Thresholds are float32 numbers, compared as the deployed graph compares them (``P(redundant) ≥ threshold``).
Kept Keras-free (NumPy, SciPy and scikit-learn only): training calibrates with it and the evaluation measures with it.
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import beta
from sklearn.metrics import roc_auc_score, roc_curve

from convbench.checks import check_confidence, check_goal
from convbench.errors import ConfigError

TPR_GOAL = 0.95  # FPR is read at this true-positive rate (the OOD literature's FPR95)
SWEEP_POINTS = 41  # thresholds in the validation sweep a card records (plus the chosen one)


@dataclass(frozen=True)
class Rejection:
    """The exit's decisions on one test mix, "redundant" (the exit firing) being the positive class.

    Attributes:
        images, redundant_images: how many images, and how many of them are redundant.
        exit_accuracy: share of images on the right side (redundant exits, main passes).
        exit_precision, exit_recall: of the images that exit, the share redundant; of the redundant, the share
            that exit (0 when there are none to count, as Keras reports it).
        false_exit_rate: share of main images that exit (they lose their class).
        auroc: area under the ROC curve of P(redundant); ``None`` when the mix holds one side only.
        fpr_at_95_tpr: share of main images exiting at the threshold where 95 % of the redundant ones exit.
    """

    images: int
    redundant_images: int
    exit_accuracy: float
    exit_precision: float
    exit_recall: float
    false_exit_rate: float
    auroc: float | None
    fpr_at_95_tpr: float | None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def rejection(is_redundant: np.ndarray, p_redundant: np.ndarray, threshold: float) -> Rejection:
    """Score the exit on images whose truth is ``is_redundant`` (bool ``(N,)``) from their P(redundant).

    Args:
        is_redundant: the truth per image.
        p_redundant: the exit's P(redundant) per image (what the deployed graph compares).
        threshold: exit when P(redundant) ≥ threshold (compared in float32, as deployed).
    """
    truth = np.asarray(is_redundant, bool)
    scores = np.asarray(p_redundant, np.float32)
    exits = scores >= np.float32(threshold)
    hits, redundant, main = int(np.sum(truth & exits)), int(truth.sum()), int((~truth).sum())
    both_sides = redundant > 0 and main > 0
    return Rejection(images=len(truth), redundant_images=redundant,
                     exit_accuracy=float(np.mean(truth == exits)) if len(truth) else 0.0,
                     exit_precision=hits / max(int(exits.sum()), 1), exit_recall=hits / max(redundant, 1),
                     false_exit_rate=int(np.sum(~truth & exits)) / max(main, 1),
                     auroc=float(roc_auc_score(truth, scores)) if both_sides else None,
                     fpr_at_95_tpr=fpr_at_tpr(truth, scores, TPR_GOAL) if both_sides else None)


def upper_bound(count: int, total: int, confidence: float = 0.95) -> float:
    """One-sided upper confidence bound of a rate seen ``count`` times in ``total`` (Clopper-Pearson)."""
    return 1.0 if count >= total else float(beta.ppf(confidence, count + 1, total - count))


def fpr_at_tpr(is_redundant: np.ndarray, p_redundant: np.ndarray, tpr_goal: float = TPR_GOAL) -> float:
    """The lowest false-positive rate at which the true-positive rate reaches ``tpr_goal`` (from ``roc_curve``)."""
    fpr, tpr, _ = roc_curve(np.asarray(is_redundant, bool), np.asarray(p_redundant, np.float32))
    return float(fpr[np.argmax(tpr >= tpr_goal)])  # tpr rises along the curve and ends at 1


@dataclass(frozen=True)
class Calibration:
    """A threshold chosen on the validation split for a stated goal, as the model card records it.

    Attributes:
        goal: ``max_false_exit`` or ``exit_rate``; target: its value.
        threshold: the chosen threshold (float32, exit when P(redundant) ≥ it).
        split: where it was chosen (always ``val``).
        images, main_images: validation images it was chosen on, and how many of them are main-class.
        false_exit_rate, exit_rate, exit_recall: what the threshold gives on those images (with held-out main
            images counted, ``exit_rate`` is over a set richer in main images than the mix).
        upper_95: one-sided 95 % upper bound (Clopper-Pearson) of the goal's rate behind the images counted.
        confidence: the confidence the goal was certified at (``None``: met on the counted images only).
        held_out_main_images: main-class images counted besides the validation split's (``split`` then says so).
        sweep: ``(threshold, false_exit_rate, exit_rate, exit_recall)`` rows over the validation images, for the
            report's sweep plot (the chosen point among them).
    """

    goal: str
    target: float
    threshold: float
    split: str
    images: int
    main_images: int
    false_exit_rate: float
    exit_rate: float
    exit_recall: float
    upper_95: float | None = None
    confidence: float | None = None
    held_out_main_images: int = 0
    sweep: tuple[tuple[float, float, float, float], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "sweep": [list(row) for row in self.sweep]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Calibration:
        return cls(**{**d, "sweep": tuple(tuple(row) for row in d.get("sweep", ()))})


def calibrate(is_redundant: np.ndarray, p_redundant: np.ndarray, goal: str, target: float,
              confidence: float | None = None) -> Calibration:
    """The lowest threshold whose exits on these (validation) images stay within ``goal``'s ``target``.

    Args:
        is_redundant: truth per validation image.
        p_redundant: the exit's P(redundant) per validation image.
        goal: ``max_false_exit`` (share of main images that may exit) or ``exit_rate`` (share of all images).
        target: the goal's value.
        confidence: certify the goal for new images at this confidence (module docstring); ``None``: meet it on
            these images.

    Raises:
        ConfigError: an unknown goal or target out of range, a confidence outside (0, 1), no images the goal
            counts, too few of them to certify the goal at ``confidence``, or a goal that no threshold in (0, 1)
            reaches (too many images with P(redundant) = 1 in float32).
    """
    goal, target = check_goal(goal, target)
    truth = np.asarray(is_redundant, bool)
    scores = np.asarray(p_redundant, np.float32)
    counted = scores[~truth] if goal == "max_false_exit" else scores
    what = f"{'main-class ' * (goal == 'max_false_exit')}validation images"
    if not len(counted):
        raise ConfigError(f"calibration goal {goal}={target:g}: no {what} to count")
    if confidence is None:
        allowed = int(np.floor(target * len(counted) + 1e-9))
    else:
        allowed = certified_count(len(counted), target, check_confidence(confidence))
        if allowed < 0:
            raise ConfigError(f"calibration goal {goal}={target:g} at confidence {confidence:g} needs at least "
                              f"{images_to_certify(target, confidence):,} {what}, got {len(counted):,}; "
                              f"add held-out main images (calibration_images) or relax the goal")
    threshold = _lowest_threshold(counted, allowed)
    if threshold is None:
        saturated = int(np.sum(counted >= np.float32(np.nextafter(np.float32(1), np.float32(0)))))
        raise ConfigError(f"calibration goal {goal}={target:g} is unreachable: {saturated} of {len(counted)} "
                          f"counted validation images have P(redundant) ≈ 1, so every threshold in (0, 1) lets more "
                          f"than {target:.2%} of them exit")
    if confidence is None and target * len(counted) < 1:
        warnings.warn(f"calibration goal {goal}={target:g} cannot be resolved on {len(counted)} validation images "
                      f"(fewer than 1/{target:g}): the threshold sits above every one counted, and new images will "
                      f"exceed it more often; use a larger validation split", stacklevel=2)
    exits = scores >= threshold
    reached = int(np.sum(counted >= threshold))
    return Calibration(goal=goal, target=target, threshold=float(threshold), split="val", images=len(scores),
                       main_images=int((~truth).sum()),
                       false_exit_rate=float(np.mean(exits[~truth])) if (~truth).any() else 0.0,
                       exit_rate=float(np.mean(exits)),
                       exit_recall=float(np.mean(exits[truth])) if truth.any() else 0.0,
                       upper_95=upper_bound(reached, len(counted)), confidence=confidence,
                       sweep=sweep(truth, scores, extra=(float(threshold),)))


def certified_count(total: int, target: float, confidence: float) -> int:
    """The most of ``total`` counted images that may exceed the threshold with the rate's upper bound at
    ``confidence`` still ≤ ``target``; -1 when even none is too many (``total`` too small)."""
    low, high = -1, total - 1  # the bound rises with the count: bisect for the last count within the target
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if upper_bound(middle, total, confidence) <= target else (low, middle - 1)
    return low


def images_to_certify(target: float, confidence: float) -> int:
    """The fewest counted images on which none exceeding the threshold certifies ``target`` at ``confidence``."""
    total = int(np.ceil(np.log1p(-confidence) / np.log1p(-target)))
    while upper_bound(0, total, confidence) > target:  # guard the float rounding of the closed form
        total += 1
    return total


def sweep(is_redundant: np.ndarray, p_redundant: np.ndarray,
          extra: tuple[float, ...] = ()) -> tuple[tuple[float, float, float, float], ...]:
    """``(threshold, false_exit_rate, exit_rate, exit_recall)`` at ``SWEEP_POINTS`` thresholds spread over (0, 1)
    on a logit scale (dense near 0 and 1, where strict goals land), plus ``extra`` thresholds."""
    truth = np.asarray(is_redundant, bool)
    scores = np.asarray(p_redundant, np.float32)
    logits = np.linspace(-12, 12, SWEEP_POINTS)
    grid = sorted({*(float(np.float32(t)) for t in 1 / (1 + np.exp(-logits))), *extra})
    rows = []
    for t in grid:
        exits = scores >= np.float32(t)
        rows.append((t, float(np.mean(exits[~truth])) if (~truth).any() else 0.0, float(np.mean(exits)),
                     float(np.mean(exits[truth])) if truth.any() else 0.0))
    return tuple(rows)


def _lowest_threshold(scores: np.ndarray, allowed: int) -> np.float32 | None:
    """The lowest float32 threshold in (0, 1) at which at most ``allowed`` of ``scores`` are ≥ it; ``None`` if none.

    With the scores sorted high to low, the threshold sits just above the ``allowed+1``-th highest one (ties with it
    stay below, so never more than ``allowed`` exit).
    """
    if allowed >= len(scores):
        return np.float32(np.nextafter(np.float32(0), np.float32(1)))
    ranked = np.sort(scores)[::-1]
    threshold = np.nextafter(ranked[allowed], np.float32(1))  # just above the first score that must not exit
    if not 0 < threshold < 1:
        return None
    return np.float32(threshold)
