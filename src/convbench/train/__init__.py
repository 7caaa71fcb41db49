"""Training on real images: the tf.data pipeline, train with early stopping and resumable checkpoints, evaluation."""

from convbench.train.evaluation import evaluate, keras_probabilities, load_model
from convbench.train.pipeline import make_dataset
from convbench.train.splits import model_splits
from convbench.train.trainer import TrainResult, train

__all__ = ["TrainResult", "evaluate", "keras_probabilities", "load_model", "make_dataset", "model_splits", "train"]
