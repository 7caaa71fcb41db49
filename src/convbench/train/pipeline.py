"""The training input pipeline: prepared uint8 images in memory → seeded, shuffled, normalised batches.

Decoding happened in the dataset loader and resizing happens here once, in numpy, with
:meth:`Preprocessing.prepare` (the very code deployment runs), so train and deploy see the same
pixels. The prepared uint8 array is the pipeline's cache: tf.data only gathers batches from it,
optionally augments them, normalises with the arithmetic of :meth:`Preprocessing.normalize`,
and prefetches.

Each epoch's order (and augmentation) is a pure function of ``(seed, epoch)``, not of how many
times the dataset was iterated before: an interrupted run that resumes at epoch k sees exactly the
batches the uninterrupted run saw at epoch k.
"""

from __future__ import annotations

import math

import tensorflow as tf

from convbench.checks import integer_in
from convbench.data import Preprocessing, Split

MAX_SHIFT = 0.1  # augmentation shifts images by up to this fraction of their side


def make_dataset(split: Split, preprocessing: Preprocessing, *, batch_size: int, shuffle: bool, seed: int = 0,
                 augment: bool = False, epochs: int = 1, first_epoch: int = 0) -> tf.data.Dataset:
    """A ``tf.data.Dataset`` of ``(images float32 (B, H, W, C), labels int64 (B,))`` batches.

    Args:
        split: the images and labels to serve.
        preprocessing: resizes/converts the images once (numpy), then normalises each batch.
        batch_size: images per batch (the last batch of an epoch may be smaller).
        shuffle: reorder the images every epoch (seeded).
        seed: fixes every epoch's order and augmentation.
        augment: random horizontal flips and shifts of up to ``MAX_SHIFT`` of the side (edge pixels
            repeated), drawn per image; off by default.
        epochs: how many passes the dataset holds, one after another.
        first_epoch: index of the first pass: its order is the one epoch ``first_epoch`` of a longer
            run gets, which is what lets a resumed training replay the run it continues.

    Example:
        >>> ds = make_dataset(dataset.train, Preprocessing((32, 32), 3), batch_size=32, shuffle=True, seed=0)
    """
    integer_in("batch_size", batch_size, 1)
    integer_in("epochs", epochs, 1)
    integer_in("first_epoch", first_epoch, 0)
    images = tf.constant(preprocessing.prepare(split.images))  # (N, H, W, C) uint8, the cache
    labels = tf.constant(split.labels.astype("int64"))
    count = len(split)
    scale, offset = tf.constant(preprocessing.scale, tf.float32), tf.constant(preprocessing.offset, tf.float32)

    def one_epoch(epoch: tf.Tensor) -> tf.data.Dataset:
        epoch_seed = tf.stack([tf.constant(seed, tf.int64), epoch])
        index = tf.range(count, dtype=tf.int64)
        if shuffle:
            index = tf.random.experimental.stateless_shuffle(index, seed=epoch_seed)
        batches = tf.data.Dataset.from_tensor_slices(index).batch(batch_size).enumerate()
        return batches.map(lambda step, batch_index: (step, epoch_seed, batch_index))

    def load_batch(step: tf.Tensor, epoch_seed: tf.Tensor, batch_index: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        x = tf.gather(images, batch_index)  # (B, H, W, C) uint8
        if augment:
            x = _augment(x, tf.random.experimental.stateless_fold_in(epoch_seed, step))
        # Same arithmetic, in the same order, as Preprocessing.normalize.
        return tf.cast(x, tf.float32) * scale + offset, tf.gather(labels, batch_index)

    passes = tf.data.Dataset.range(first_epoch, first_epoch + epochs).flat_map(one_epoch)
    # flat_map hides the length; stating it lets Keras iterate validation data without "ran out of data" warnings.
    passes = passes.apply(tf.data.experimental.assert_cardinality(epochs * math.ceil(count / batch_size)))
    return passes.map(load_batch, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def steps_per_epoch(split: Split, batch_size: int) -> int:
    """Batches in one epoch of :func:`make_dataset` over ``split``."""
    return math.ceil(len(split) / batch_size)


def _augment(x: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """Per image: a horizontal flip with probability 1/2 and a shift of up to ``MAX_SHIFT`` of each side."""
    shape = tf.shape(x, out_type=tf.int64)
    batch, height, width = shape[0], shape[1], shape[2]
    flip_seed, row_seed, col_seed = (tf.random.experimental.stateless_fold_in(seed, i) for i in range(3))
    flip = tf.random.stateless_uniform([batch], flip_seed) < 0.5
    x = tf.where(flip[:, None, None, None], tf.reverse(x, axis=[2]), x)
    x = _shift(x, axis=1, side=height, seed=row_seed)
    return _shift(x, axis=2, side=width, seed=col_seed)


def _shift(x: tf.Tensor, *, axis: int, side: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """Shift every image along ``axis`` by its own random offset, repeating the edge pixels."""
    max_shift = tf.cast(tf.math.round(tf.cast(side, tf.float32) * MAX_SHIFT), tf.int64)
    offsets = tf.random.stateless_uniform([tf.shape(x, out_type=tf.int64)[0], 1], seed, -max_shift, max_shift + 1,
                                          dtype=tf.int64)  # (B, 1)
    source = tf.clip_by_value(tf.range(side)[None, :] + offsets, 0, side - 1)  # (B, side): pixel to copy
    return tf.gather(x, source, axis=axis, batch_dims=1)
