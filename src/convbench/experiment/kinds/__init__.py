"""The step kinds of a study, one file each; importing this package registers them all (as ``models`` does)."""

from convbench.experiment.kinds import bench, export, parity, train

__all__ = ["bench", "export", "parity", "train"]
