"""User-facing errors: the CLI prints them as one line on stderr and exits non-zero."""


_ESCAPES = {**{c: f"\\x{c:02x}" for c in (*range(32), 127)}, ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t"}


class ConvbenchError(ValueError):
    """Base of every error caused by the user's input (files, names, options).

    The message must name the culprit (file, key, option, value) and what was expected. It is kept to one line: a
    control character in it (a newline in a damaged zip member's name, a tab in a folder name) is written as its
    escape, so the culprit is named as it is without breaking the CLI's one-line error.
    """

    def __init__(self, message: object = "", *args: object) -> None:
        super().__init__(str(message).translate(_ESCAPES), *args)


class DataError(ConvbenchError):
    """A dataset path, archive, file or spec is missing, malformed or of the wrong dataset."""


class ModelError(ConvbenchError):
    """An unknown architecture, an impossible option, or a file that is not a usable model."""


class ConfigError(ConvbenchError):
    """An invalid option value or experiment file."""


class TargetError(ConvbenchError):
    """A timing target (``ssh://…``, ``adb…``) is unreachable, refuses us, lacks what the agent needs, or dropped
    the connection; the message names the target and, where it can, how to fix it."""


class FolderInUse(ConvbenchError):
    """An output folder is locked by another running process; the message names it (PID, host, command, since)."""


class OutputError(ConvbenchError):
    """A result cannot be written (disk full, read-only, permission denied); the message names the path."""
