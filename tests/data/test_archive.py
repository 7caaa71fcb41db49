"""One reader for directories, zips and tarballs; image decoding that names the bad file."""

from __future__ import annotations

import numpy as np
import pytest

from convbench.data.archive import Source
from convbench.data.images import decode_image, read_images, stack_images
from convbench.errors import DataError

FILES = {"top/a/1.png": b"one", "top/b/2.png": b"two"}


@pytest.mark.parametrize("form", ["dir", "zip", "tar.gz"])
def test_source_reads_every_form_alike(tmp_path, fmt, form):
    path = {"dir": lambda: fmt.write_tree(tmp_path / "d", FILES),
            "zip": lambda: fmt.write_zip(tmp_path / "d.zip", FILES),
            "tar.gz": lambda: fmt.write_tar_gz(tmp_path / "d.tar.gz", FILES)}[form]()
    with Source(path) as src:
        assert src.names == ["top/a/1.png", "top/b/2.png"]
        assert src.read("top/b/2.png") == b"two"
        assert {"top", "top/a", "top/b"} <= src.dirs
        assert src.find(r"\d\.png") == src.names
        with pytest.raises(DataError, match="nope"):
            src.read("nope")


def test_directory_mounts_archives_inside_it_and_drops_junk(tmp_path, fmt):
    fmt.write_zip(tmp_path / "inner.zip", {"z/x.png": b"x", "__MACOSX/z/._x.png": b"fork"})
    fmt.write_tree(tmp_path, {"plain/y.png": b"y", ".DS_Store": b"", "z/x.png": b"on disk"})
    with Source(tmp_path) as src:
        assert src.names == ["plain/y.png", "z/x.png"]
        assert src.read("z/x.png") == b"on disk"  # a file on disk wins over the archive member
        assert src.where("z/x.png") == str(tmp_path / "z" / "x.png")


def test_missing_path_and_broken_archives(tmp_path):
    with pytest.raises(DataError, match="not found"):
        Source(tmp_path / "absent.zip")
    (tmp_path / "bad.zip").write_bytes(b"not a zip")
    with pytest.raises(DataError, match=r"bad\.zip.*zip"):
        Source(tmp_path / "bad.zip")
    (tmp_path / "bad.tar.gz").write_bytes(b"\x1f\x8bnot gzip")
    with pytest.raises(DataError, match=r"bad\.tar\.gz"):
        Source(tmp_path / "bad.tar.gz")


def test_decode_names_the_bad_file_and_skip_counts_it(tmp_path, fmt):
    files = {"c/ok.png": fmt.image_bytes(1), "c/bad.png": fmt.image_bytes(2)[:30]}
    with Source(fmt.write_zip(tmp_path / "imgs.zip", files)) as src:
        with pytest.raises(DataError, match=r"c/bad\.png \(in .*imgs\.zip\)"):
            read_images(src, src.names)
        decoded = read_images(src, src.names, skip_bad_images=True)
    assert decoded.skipped == ["c/bad.png"] and decoded.kept.tolist() == [1]
    assert decoded.images[0].shape == (8, 8, 3) and decoded.images[0][0, 0, 0] == fmt.pixel(1)


def test_decode_modes_and_stacking(fmt):
    gray = decode_image(fmt.image_bytes(0, mode="L"), "g")
    bits = decode_image(fmt.image_bytes(0, (12, 12), mode="1"), "b")
    rgb = decode_image(fmt.image_bytes(1, (6, 4)), "c")
    assert gray.shape == (8, 8, 1) and set(np.unique(bits)) == {0, 255}
    stacked = stack_images([gray, gray, rgb], where="test")
    assert stacked.shape == (3, 8, 8, 3)  # the most common size, RGB because one image is
    assert stack_images([rgb], (5, 5), 1, where="test").shape == (1, 5, 5, 1)
    with pytest.raises(DataError, match="no readable images in nothing"):
        stack_images([], where="nothing")


def test_damaged_zip_member_is_named(tmp_path, fmt):
    import zipfile

    path = tmp_path / "damaged.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a/ok.png", fmt.image_bytes(0))
        zf.writestr("a/hurt.png", fmt.image_bytes(1, (64, 64)))
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("a/hurt.png")
    start = info.header_offset + 30 + len(info.filename)  # local header, then the compressed bytes
    data[start + 5: start + 25] = bytes(20)
    path.write_bytes(bytes(data))
    with Source(path) as src:
        with pytest.raises(DataError, match=r"a/hurt\.png \(in .*damaged\.zip\)"):
            read_images(src, src.names)
        assert read_images(src, src.names, skip_bad_images=True).skipped == ["a/hurt.png"]


def test_a_zip_whose_end_record_understates_its_directory_fails_instead_of_listing_part_of_it(tmp_path, fmt):
    """``zipfile`` reads the central directory for the size the end record gives: a smaller size lists fewer
    members, silently (a Hypothesis example of the Omniglot loader found it, loading one alphabet of three)."""
    import struct
    import zipfile

    path = fmt.write_zip(tmp_path / "three.zip", {f"{c}/0.png": fmt.image_bytes(0) for c in ("a", "b", "c")})
    data = bytearray(path.read_bytes())
    end = data.rindex(b"PK\x05\x06")
    size, = struct.unpack_from("<I", data, end + 12)
    last = 46 + len("c/0.png")  # the last member's central directory record (no extra field, no comment)
    struct.pack_into("<I", data, end + 12, size - last)  # the directory's byte size, without its last member
    path.write_bytes(bytes(data))
    assert len(zipfile.ZipFile(path).infolist()) == 2  # what zipfile alone would load
    with pytest.raises(DataError, match=r"three\.zip: its central directory lists 2 members where its end record "
                                        r"counts 3"):
        Source(path)
