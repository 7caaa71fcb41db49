"""CLI commands: run (thin wrappers over the library)."""

from convbench.cli import app  # noqa: F401
