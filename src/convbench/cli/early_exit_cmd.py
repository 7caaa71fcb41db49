"""CLI commands: early_exit (thin wrappers over the library)."""

from convbench.cli import app  # noqa: F401
