"""What the search tests share: a tiny space on the embedded digits, and digits with an official test split."""

from __future__ import annotations

import socket
from pathlib import Path

# One small architecture at 16 px (digits are 8x8): a trial trains in seconds. stagenet's stage layouts are
# narrowed to the smallest so that every trial is cheap; two export modes give the space something to choose.
TINY_SPACE = """
input_sizes = [16]
quantize = ["none", "float16"]

[architectures.stagenet]
width = [0.25, 0.5]
options = { stage_channels = [[8, 16], [16, 32]], depths = [1], stem_channels = [8] }
"""


def write_space(folder: Path, text: str = TINY_SPACE) -> Path:
    path = folder / "space.toml"
    path.write_text(text, encoding="utf-8")
    return path


def free_port() -> int:
    """A TCP port nothing listens on right now (on loopback)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
