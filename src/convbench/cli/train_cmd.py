"""CLI commands: train (thin wrappers over the library)."""

from convbench.cli import app  # noqa: F401
