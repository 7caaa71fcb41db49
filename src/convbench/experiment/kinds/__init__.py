"""The step kinds of a study, one file each; importing this package registers them all (as ``models`` does)."""

from convbench.experiment.kinds import (
    bench,
    early_exit_eval,
    early_exit_export,
    early_exit_sweep,
    early_exit_train,
    export,
    memory,
    op_profile,
    parity,
    search,
    train,
)

__all__ = ["bench", "early_exit_eval", "early_exit_export", "early_exit_sweep", "early_exit_train", "export", "memory",
           "op_profile", "parity", "search", "train"]
