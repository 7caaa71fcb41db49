"""Datasets: loaders for each dataset's official format, preprocessing, splits and main+redundant mixing."""

# Importing a loader module registers its dataset(s).
from convbench.data import cifar, digits, folder, fruits360, gtsrb, mnist, omniglot, svhn  # noqa: F401
from convbench.data._registry import (
           DEFAULT_DATASET,
           DatasetInfo,
           DataSpec,
           check_spec,
           list_datasets,
           load,
           register_dataset,
)
from convbench.data.dataset import Dataset, Split
from convbench.data.describe import datasets, describe_dataset
from convbench.data.mix import (
           REDUNDANT,
           MixSettings,
           build_mix,
           check_redundancy,
           harmonize,
           held_out_mix,
           load_pools,
           mix,
           subset,
)
from convbench.data.preprocess import Preprocessing
from convbench.data.split import split

__all__ = ["DEFAULT_DATASET", "REDUNDANT", "DataSpec", "Dataset", "DatasetInfo", "MixSettings", "Preprocessing",
           "Split", "build_mix", "check_redundancy", "check_spec", "datasets", "describe_dataset", "harmonize",
           "held_out_mix", "list_datasets", "load", "load_pools", "mix", "register_dataset", "split", "subset"]
