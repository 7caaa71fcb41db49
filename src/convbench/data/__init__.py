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
from convbench.data.mix import REDUNDANT, harmonize, mix, redundancy_of
from convbench.data.preprocess import Preprocessing
from convbench.data.split import split

__all__ = ["DEFAULT_DATASET", "REDUNDANT", "DataSpec", "Dataset", "DatasetInfo", "Preprocessing", "Split",
           "check_spec", "datasets", "describe_dataset", "harmonize", "list_datasets", "load", "mix", "redundancy_of",
           "register_dataset", "split"]
