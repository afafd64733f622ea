"""Exceptions shared by every stage.

Exit statuses used by the command line (see docs/reference/cli.md):
0 success, 1 finished with per-item errors recorded, 2 bad usage or invalid
config (nothing written).
"""


class HarnessError(Exception):
    """Base class for errors the harness raises on purpose."""

    exit_status = 1


class ConfigError(HarnessError, ValueError):
    """Invalid configuration or argument. The message is one line that names
    the bad field and the allowed values. Nothing has been written."""

    exit_status = 2

    def __init__(self, field: str, message: str):
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}" if field else message)


class DecodeError(HarnessError):
    """An image could not be turned into 8-bit RGB pixels; `reason` is short
    and goes to errors.csv."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


class TransformError(HarnessError):
    """A variant cannot be made (e.g. an image too small for a crop)."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)
