"""Property-based tests (Hypothesis) of every loader: a valid file loads to exactly the pixels and labels written;
a truncated, mutated or odd-mode file either loads correctly or fails with a one-line ``ConvbenchError``, never
another exception and never silently changed labels or pixels.

Files are written in each dataset's own format by the writers of ``conftest.py`` (the ``fmt`` fixture) or here.
"""

from __future__ import annotations

import gzip
import io
import struct
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image

from convbench.data import Dataset, Split, load
from convbench.data.images import decode_image
from convbench.data.mix import subset
from convbench.errors import ConvbenchError, DataError

FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FEW = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@contextmanager
def _folder() -> Iterator[Path]:
    """A fresh temporary folder per example (pytest's tmp_path is one per test, shared by every example)."""
    with tempfile.TemporaryDirectory() as name:
        yield Path(name)


def _load_or_error(spec: str) -> Dataset | None:
    """The dataset, or None after a one-line ConvbenchError; any other exception fails the test."""
    try:
        return load(spec)
    except ConvbenchError as e:
        assert "\n" not in str(e), str(e)
        return None


def _same(a: Dataset, b: Dataset) -> None:
    assert a.class_names == b.class_names
    for part_a, part_b in ((a.train, b.train), (a.test, b.test)):
        assert (part_a is None) == (part_b is None)
        if part_a is not None:
            np.testing.assert_array_equal(part_a.images, part_b.images)
            np.testing.assert_array_equal(part_a.labels, part_b.labels)


def _cut(data: bytes, draw: st.DrawFn) -> bytes:
    return data[:draw(st.integers(0, max(len(data) - 1, 0)))]


def _flip(data: bytes, draw: st.DrawFn) -> bytes:
    """``data`` with one to three bytes replaced."""
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(out) - 1))
        out[at] = draw(st.integers(0, 255).filter(lambda b, old=out[at]: b != old))
    return bytes(out)


# -- single image files in every mode -----------------------------------------------------------------------------
_side = st.integers(1, 9)


@st.composite
def _images(draw: st.DrawFn, size: tuple[int, int] | None = None) -> tuple[bytes, np.ndarray]:
    """An encoded lossless image in one of the modes users' files come in, and the ``(H, W, C)`` uint8 pixels it
    must decode to: grayscale modes to one channel, 16-bit scaled by its depth, the rest to RGB."""
    mode = draw(st.sampled_from(["1", "L", "LA", "I;16", "P", "RGB", "RGBA", "CMYK"]))
    file_format = draw(st.sampled_from(["TIFF"] if mode == "CMYK" else ["PNG", "TIFF"] if mode != "P" else ["PNG"]))
    h, w = size or (draw(_side), draw(_side))
    if mode == "1":
        bits = draw(arrays(np.bool_, (h, w)))
        image, expected = Image.fromarray(bits), np.where(bits, 255, 0).astype(np.uint8)[..., None]
    elif mode == "I;16":
        wide = draw(arrays(np.uint16, (h, w)))
        image = Image.fromarray(wide)
        expected = np.rint(wide.astype(np.float64) * 255 / 65535).astype(np.uint8)[..., None]
    elif mode == "P":
        index = draw(arrays(np.uint8, (h, w), elements=st.integers(0, 15)))
        palette = draw(arrays(np.uint8, (16, 3)))
        image = Image.fromarray(index, "P")
        image.putpalette(palette.ravel().tolist())
        expected = palette[index]
    else:
        channels = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4, "CMYK": 4}[mode]
        pixels = draw(arrays(np.uint8, (h, w, channels)))
        image = Image.fromarray(pixels[..., 0] if channels == 1 else pixels, mode)
        expected = {"L": pixels, "LA": pixels[..., :1], "RGB": pixels, "RGBA": pixels[..., :3],
                    "CMYK": np.asarray(image.convert("RGB"))}[mode]  # CMYK → RGB: PIL's conversion is the reference
    buffer = io.BytesIO()
    image.save(buffer, file_format)
    return buffer.getvalue(), expected


@FUZZ
@given(_images())
def test_a_valid_image_decodes_to_the_exact_pixels_written(image: tuple[bytes, np.ndarray]) -> None:
    data, expected = image
    np.testing.assert_array_equal(decode_image(data, "x.png"), expected)


@FUZZ
@given(mode=st.sampled_from(["L", "RGB", "CMYK"]), h=_side, w=_side, quality=st.integers(5, 95), data=st.data())
def test_a_jpeg_decodes_to_what_its_decoder_reads_in_one_or_three_channels(mode: str, h: int, w: int, quality: int,
                                                                           data: st.DataObject) -> None:
    """JPEG is lossy: the reference is the file's own decoded pixels (grayscale kept, CMYK and RGB as RGB)."""
    pixels = data.draw(arrays(np.uint8, (h, w, len(mode))))
    buffer = io.BytesIO()
    Image.fromarray(pixels[..., 0] if mode == "L" else pixels, mode).save(buffer, "JPEG", quality=quality)
    with Image.open(io.BytesIO(buffer.getvalue())) as reference:
        expected = np.asarray(reference if mode == "L" else reference.convert("RGB"))
    np.testing.assert_array_equal(decode_image(buffer.getvalue(), "x.jpg"), expected.reshape(h, w, -1))


@FUZZ
@given(image=_images(), fmt_name=st.sampled_from(["PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP", "PPM"]),
       data=st.data())
def test_a_damaged_image_is_a_data_error_or_an_image(image: tuple[bytes, np.ndarray], fmt_name: str,
                                                     data: st.DataObject) -> None:
    _, pixels = image
    buffer = io.BytesIO()
    Image.fromarray(pixels[..., 0] if pixels.shape[2] == 1 else pixels).save(buffer, fmt_name)
    damaged = data.draw(st.sampled_from([_cut, _flip]))(buffer.getvalue(), data.draw)
    try:
        decoded = decode_image(damaged, "x")
    except DataError as e:
        assert "x" in str(e) and "\n" not in str(e)
        return
    assert decoded.dtype == np.uint8 and decoded.ndim == 3 and decoded.shape[2] in (1, 3)


# -- class-per-folder sets: directories, zips, tar.gz ---------------------------------------------------------------
_class_name = st.text(st.characters(whitelist_categories=("Lu", "Ll", "Nd"), max_codepoint=0x4FF), min_size=1,
                      max_size=8)


@st.composite
def _class_folders(draw: st.DrawFn) -> tuple[dict[str, bytes], list[str], list[np.ndarray]]:
    """Image files ``<class>/<NNN>.<png|tif>`` of one size in any mode: the files, each image's class and the pixels
    the set must hold (in file order; grayscale repeated to RGB when any image of the set is in colour)."""
    names = draw(st.lists(_class_name, min_size=1, max_size=4, unique_by=str.casefold))
    size = (draw(_side), draw(_side))
    files, classes, pixels = {}, [], []
    for name in sorted(names):
        for i in range(draw(st.integers(1, 3))):
            data, expected = draw(_images(size))
            suffix = "png" if data.startswith(b"\x89PNG") else "tif"
            files[f"{name}/{i:03d}.{suffix}"] = data
            classes.append(name)
            pixels.append(expected)
    if any(p.shape[2] == 3 for p in pixels):
        pixels = [np.repeat(p, 3, axis=2) if p.shape[2] == 1 else p for p in pixels]
    return files, classes, pixels


@FEW
@given(folders=_class_folders(), form=st.sampled_from(["dir", "zip", "tar.gz"]))
def test_class_folders_load_to_the_exact_labels_and_pixels(fmt, folders, form) -> None:
    files, classes, pixels = folders
    with _folder() as root:
        path = {"dir": lambda: fmt.write_tree(root / "set", files), "zip": lambda: fmt.write_zip(root / "s.zip", files),
                "tar.gz": lambda: fmt.write_tar_gz(root / "s.tar.gz", files)}[form]()
        dataset = load(f"folder:{path}")
    assert dataset.class_names == tuple(sorted(set(classes)))
    assert [dataset.class_names[label] for label in dataset.train.labels] == classes
    np.testing.assert_array_equal(dataset.train.images, np.stack(pixels))


@FEW
@given(folders=_class_folders(), data=st.data())
def test_a_damaged_zip_of_class_folders_loads_unchanged_or_fails(fmt, folders, data: st.DataObject) -> None:
    """Every byte of a zip member is covered by its CRC and every name appears twice (local and central header):
    damage either leaves the dataset exactly as it was or is a DataError."""
    files, _, _ = folders
    with _folder() as root:
        intact = load(f"folder:{fmt.write_zip(root / 'a.zip', files)}")
        damaged = root / "b.zip"
        damaged.write_bytes(data.draw(st.sampled_from([_cut, _flip]))((root / "a.zip").read_bytes(), data.draw))
        loaded = _load_or_error(f"folder:{damaged}")
    if loaded is not None:
        _same(loaded, intact)


def test_a_16_bit_png_in_a_folder_set_is_scaled_not_clipped(tmp_path: Path) -> None:
    wide = np.array([[0, 257, 65535], [32768, 1000, 60000]], np.uint16)
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        Image.fromarray(wide).save(tmp_path / name / "0.png")
    images = load(f"folder:{tmp_path}").train.images
    np.testing.assert_array_equal(images[0, ..., 0], np.rint(wide / 257).astype(np.uint8))


def _raw_name_zip(path: Path, names: dict[bytes, bytes], create_system: int,
                  extra: Callable[[bytes], bytes] = lambda raw: b"") -> Path:
    """A zip whose member names are the given raw bytes with no UTF-8 flag (as Info-ZIP's zip writes them).

    Python would flag a non-ASCII name as UTF-8, so each is written as an ASCII stand-in of the same length and
    its bytes swapped in afterwards (in the local and the central header alike).
    """
    stand_ins = {raw: f"{i:0{len(raw)}d}".encode() for i, raw in enumerate(names)}
    with zipfile.ZipFile(path, "w") as zf:
        for raw, data in names.items():
            info = zipfile.ZipInfo(stand_ins[raw].decode())
            info.create_system = create_system
            info.extra = extra(raw)
            zf.writestr(info, data)
    content = path.read_bytes()
    for raw, stand_in in stand_ins.items():
        content = content.replace(stand_in, raw)
    path.write_bytes(content)
    return path


def test_info_zip_names_decode_as_utf8_and_others_as_cp437(tmp_path: Path, fmt) -> None:
    png = fmt.image_bytes(0)
    files = {"Äpfel/0.png".encode(): png, b"Birne/0.png": png}
    unix = _raw_name_zip(tmp_path / "unix.zip", files, create_system=3)
    assert load(f"folder:{unix}").class_names == ("Birne", "Äpfel")  # Info-ZIP on Unix: the locale's UTF-8 bytes
    dos = _raw_name_zip(tmp_path / "dos.zip", {"\u00c4pfel/0.png".encode("cp437"): png, b"Birne/0.png": png},
                        create_system=0)
    assert load(f"folder:{dos}").class_names == ("Birne", "Äpfel")  # MS-DOS zip: cp437, as the zip spec says


def test_the_info_zip_unicode_path_extra_field_names_the_member(tmp_path: Path, fmt) -> None:
    def unicode_path(raw: bytes) -> bytes:
        name = raw.replace(b"Apfel", "Äpfel".encode())
        body = b"\x01" + struct.pack("<I", zlib.crc32(raw)) + name
        return struct.pack("<HH", 0x7075, len(body)) + body

    png = fmt.image_bytes(0)
    path = _raw_name_zip(tmp_path / "a.zip", {b"Apfel/0.png": png, b"Birne/0.png": png}, create_system=0,
                         extra=unicode_path)
    assert load(f"folder:{path}").class_names == ("Birne", "Äpfel")


def test_fruits360_refuses_a_cifar10_image_copy(tmp_path: Path, fmt) -> None:
    classes = ("airplane", "automobile", "bird")
    files = {**fmt.folder_files(classes, 2, "cifar10-jpeg/train/"),
             **fmt.folder_files(classes, 1, "cifar10-jpeg/test/")}
    with pytest.raises(DataError, match=r"has cifar10-jpeg/train/ and cifar10-jpeg/test/, not Training/ and Test/"):
        load(f"fruits360:{fmt.write_zip(tmp_path / 'cifar10-jpeg.zip', files)}")


# -- MNIST: IDX files -------------------------------------------------------------------------------------------------
@st.composite
def _mnist(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    n_train, n_test = draw(st.integers(1, 6)), draw(st.integers(1, 4))
    return (draw(arrays(np.uint8, (n_train, 28, 28))), draw(arrays(np.uint8, n_train, elements=st.integers(0, 9))),
            draw(arrays(np.uint8, (n_test, 28, 28))), draw(arrays(np.uint8, n_test, elements=st.integers(0, 9))))


def _mnist_files(fmt, arrays_: tuple[np.ndarray, ...], gz: bool) -> dict[str, bytes]:
    names = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
    raw = {name: fmt.idx_bytes(array) for name, array in zip(names, arrays_, strict=True)}
    return {f"{n}.gz": gzip.compress(d) for n, d in raw.items()} if gz else raw


@FUZZ
@given(mnist=_mnist(), gz=st.booleans())
def test_mnist_idx_files_load_exactly(fmt, mnist, gz: bool) -> None:
    with _folder() as root:
        dataset = load(f"mnist:{fmt.write_tree(root, _mnist_files(fmt, mnist, gz))}")
    np.testing.assert_array_equal(dataset.train.images[..., 0], mnist[0])
    np.testing.assert_array_equal(dataset.train.labels, mnist[1])
    np.testing.assert_array_equal(dataset.test.images[..., 0], mnist[2])
    np.testing.assert_array_equal(dataset.test.labels, mnist[3])


@FUZZ
@given(mnist=_mnist(), gz=st.booleans(), which=st.integers(0, 3), data=st.data())
def test_a_damaged_idx_file_fails_or_loads_what_its_bytes_say(fmt, mnist, gz: bool, which: int,
                                                               data: st.DataObject) -> None:
    files = _mnist_files(fmt, mnist, gz)
    name = sorted(files)[which]
    damage = data.draw(st.sampled_from([_cut, _flip]))
    files[name] = damage(files[name], data.draw)
    with _folder() as root:
        dataset = _load_or_error(f"mnist:{fmt.write_tree(root, files)}")
    if dataset is None:
        return
    # loaded: the bytes after each header are the pixels and labels, as written (a damaged value is the file's)
    for split, prefix in ((dataset.train, "train"), (dataset.test, "t10k")):
        images = next(d for n, d in files.items() if n.startswith(f"{prefix}-images"))
        labels = next(d for n, d in files.items() if n.startswith(f"{prefix}-labels"))
        images, labels = (gzip.decompress(d) if gz else d for d in (images, labels))
        assert split.images.tobytes() == images[16:] and split.labels.astype(np.uint8).tobytes() == labels[8:]
        assert split.labels.max() <= 9


# -- CIFAR: pickled python batches ------------------------------------------------------------------------------------
@st.composite
def _cifar_batches(draw: st.DrawFn) -> tuple[list[np.ndarray], list[list[int]]]:
    """Five training batches and a test batch: the raw ``(N, 3072)`` rows and labels of each."""
    rows, labels = [], []
    for _ in range(6):
        n = draw(st.integers(1, 3))
        rows.append(draw(arrays(np.uint8, (n, 3072))))
        labels.append(draw(st.lists(st.integers(0, 9), min_size=n, max_size=n)))
    return rows, labels


def _cifar_files(fmt, rows: list[np.ndarray], labels: list[list[int]]) -> dict[str, bytes]:
    names = [f"cifar-10-batches-py/data_batch_{b}" for b in range(1, 6)] + ["cifar-10-batches-py/test_batch"]
    files = {name: fmt.py2_pickle({b"data": r, b"labels": lab}) for name, r, lab in zip(names, rows, labels,
                                                                                         strict=True)}
    files["cifar-10-batches-py/batches.meta"] = fmt.py2_pickle({b"label_names": [f"c{i}".encode() for i in range(10)]})
    return files


@FEW
@given(batches=_cifar_batches())
def test_cifar_batches_load_exactly(fmt, batches) -> None:
    rows, labels = batches
    with _folder() as root:
        dataset = load(f"cifar10:{fmt.write_tar_gz(root / 'c.tar.gz', _cifar_files(fmt, rows, labels))}")
    expected = np.concatenate(rows[:5]).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)  # channel planes → HWC
    np.testing.assert_array_equal(dataset.train.images, expected)
    assert dataset.train.labels.tolist() == [label for batch in labels[:5] for label in batch]
    assert dataset.test.labels.tolist() == labels[5]


@FEW
@given(batches=_cifar_batches(), which=st.integers(0, 6), data=st.data())
def test_a_damaged_cifar_batch_fails_or_loads_in_range(fmt, batches, which: int, data: st.DataObject) -> None:
    files = _cifar_files(fmt, *batches)
    name = sorted(files)[which]
    files[name] = data.draw(st.sampled_from([_cut, _flip]))(files[name], data.draw)
    with _folder() as root:
        dataset = _load_or_error(f"cifar10:{fmt.write_tree(root, files) / 'cifar-10-batches-py'}")
    if dataset is not None:
        assert dataset.train.images.shape[1:] == (32, 32, 3) and dataset.num_classes == 10
        assert dataset.train.labels.min() >= 0 and dataset.train.labels.max() < 10


# -- SVHN: MATLAB files ------------------------------------------------------------------------------------------------
@st.composite
def _svhn(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    n = draw(st.integers(1, 4))
    return draw(arrays(np.uint8, (32, 32, 3, n))), draw(arrays(np.uint8, (n, 1), elements=st.integers(1, 10)))


def _mat(x: np.ndarray, y: np.ndarray) -> bytes:
    import scipy.io

    buffer = io.BytesIO()
    scipy.io.savemat(buffer, {"X": x, "y": y})
    return buffer.getvalue()


@FEW
@given(train=_svhn(), test=_svhn())
def test_svhn_mat_files_load_exactly_with_10_as_0(train, test) -> None:
    with _folder() as root:
        (root / "train_32x32.mat").write_bytes(_mat(*train))
        (root / "test_32x32.mat").write_bytes(_mat(*test))
        dataset = load(f"svhn:{root}")
    np.testing.assert_array_equal(dataset.train.images, train[0].transpose(3, 0, 1, 2))
    assert dataset.train.labels.tolist() == [int(v) % 10 for v in train[1].ravel()]
    assert dataset.test.labels.tolist() == [int(v) % 10 for v in test[1].ravel()]


@FUZZ
@given(train=_svhn(), data=st.data())
def test_an_empty_cut_or_damaged_svhn_file_fails_in_one_line_or_loads_in_range(train, data: st.DataObject) -> None:
    damaged = data.draw(st.sampled_from([_cut, _flip]))(_mat(*train), data.draw)
    with _folder() as root:
        (root / "train_32x32.mat").write_bytes(damaged)
        (root / "test_32x32.mat").write_bytes(_mat(*train))
        dataset = _load_or_error(f"svhn:{root}")
    if dataset is not None:
        assert dataset.train.images.shape[1:] == (32, 32, 3)
        assert dataset.train.labels.min() >= 0 and dataset.train.labels.max() <= 9


# -- GTSRB: per-class csv files ---------------------------------------------------------------------------------------
_class_id = st.integers(0, 42) | st.sampled_from(["-1", "43", "99", str(10**12), "7.5", "", "x"])


@FUZZ
@given(ids=st.lists(st.tuples(st.integers(0, 42), _class_id), min_size=1, max_size=4, unique_by=lambda t: t[0]))
def test_gtsrb_class_ids_load_exactly_or_are_refused(fmt, ids: list[tuple[int, int | str]]) -> None:
    """Each class folder 000NN's csv gives its images a ClassId: the folder's own loads; any other (out of GTSRB's
    0-42, another folder's, not an integer) is a DataError naming the csv, before any array is sized by it."""
    files = {}
    for folder, class_id in ids:
        base = f"GTSRB/Final_Training/Images/{folder:05d}"
        files[f"{base}/00000_00000.ppm"] = fmt.image_bytes(folder, (6, 6), "PPM")
        files[f"{base}/GT-{folder:05d}.csv"] = f"{fmt.GTSRB_HEADER};ClassId\r\n00000_00000.ppm;6;6;0;0;5;5;{class_id}" \
            .encode()
    with _folder() as root:
        dataset = _load_or_error(f"gtsrb:{fmt.write_zip(root / 'GTSRB_Final_Training_Images.zip', files)}")
    valid = all(str(class_id) == str(folder) for folder, class_id in ids)
    assert (dataset is not None) == valid
    if dataset is not None:
        folders = sorted(folder for folder, _ in ids)
        assert dataset.class_names == tuple(f"{f:05d}" for f in folders)
        assert dataset.train.labels.tolist() == list(range(len(folders)))
        assert [int(p) for p in dataset.train.images[:, 0, 0, 0]] == [min(fmt.pixel(f), 255) for f in folders]


@FEW
@given(data=st.data())
def test_a_damaged_gtsrb_csv_fails_or_keeps_its_labels(fmt, data: st.DataObject) -> None:
    zips = fmt.gtsrb_files()
    train = zips["GTSRB_Final_Training_Images.zip"]
    name = data.draw(st.sampled_from(sorted(n for n in train if n.endswith(".csv"))))
    train[name] = data.draw(st.sampled_from([_cut, _flip]))(train[name], data.draw)
    with _folder() as root:
        dataset = _load_or_error(f"gtsrb:{fmt.write_zip(root / 'GTSRB_Final_Training_Images.zip', train)}")
    if dataset is not None:  # every label is its image's class folder (a csv naming another class is refused)
        assert {int(name) for name in dataset.class_names} <= {0, 1, 2}
        assert len(dataset.train) <= 9


# -- Omniglot ---------------------------------------------------------------------------------------------------------
@FEW
@given(alphabets=st.lists(st.sampled_from(["Latin", "Greek", "Futurama", "Kannada"]), min_size=1, max_size=3,
                          unique=True), data=st.data())
def test_omniglot_alphabets_load_and_a_damaged_zip_fails_or_loads_the_same(fmt, alphabets, data) -> None:
    files = fmt.omniglot_files("images_background", tuple(alphabets), characters=2, drawers=2)
    with _folder() as root:
        zipped = fmt.write_zip(root / "images_background.zip", files)
        dataset = load(f"omniglot:{zipped}?labels=alphabet")
        assert dataset.class_names == tuple(sorted(alphabets))
        assert np.bincount(dataset.train.labels).tolist() == [4] * len(alphabets)
        assert set(np.unique(dataset.train.images)) <= {0, 255}
        damaged = root / "images_background_damaged.zip"
        damaged.write_bytes(data.draw(st.sampled_from([_cut, _flip]))(zipped.read_bytes(), data.draw))
        again = _load_or_error(f"omniglot:{damaged}?labels=alphabet")
    if again is not None:
        _same(again, dataset)


# -- exact subsets (the --limit of early-exit eval, a mix's max_train) ----------------------------------------------
@FUZZ
@given(labels=st.lists(st.integers(0, 5), min_size=1, max_size=200), limit=st.integers(1, 250), seed=st.integers(0, 5))
def test_a_subset_holds_exactly_limit_images_in_class_proportion(labels: list[int], limit: int, seed: int) -> None:
    part = Split(np.arange(len(labels), dtype=np.uint8).reshape(-1, 1, 1, 1), np.array(labels, np.int64))
    taken = subset(part, limit, seed)
    assert len(taken) == min(limit, len(part))
    assert len(set(taken.images.ravel().tolist())) == len(taken)  # distinct images of the part
    if limit < len(part):
        counts = np.bincount(taken.labels, minlength=6)
        shares = np.bincount(part.labels, minlength=6) * limit / len(part)
        assert np.all(np.abs(counts - shares) < 1)  # each class within one image of its share


def test_the_bench_preprocessing_of_a_16_bit_png_scales_it_too(tmp_path: Path) -> None:
    """``Preprocessing.load_image`` (what bench times) decodes as the loaders do: 16-bit scaled, never all white."""
    from convbench.data import Preprocessing

    wide = np.array([[0, 257, 65535], [32768, 1000, 60000]], np.uint16)
    Image.fromarray(wide).save(tmp_path / "wide.png")
    batch = Preprocessing((2, 3), 1, scale=1.0).load_image(tmp_path / "wide.png")
    np.testing.assert_array_equal(batch[0, ..., 0], np.rint(wide / 257))
