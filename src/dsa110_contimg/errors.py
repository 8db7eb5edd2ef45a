"""The project's one exception tree.

Every error raised on purpose by the pipeline derives from :class:`ContimgError`. Messages
name the file, key or identifier involved and what was expected, so that an operator reading
a log line at 3 a.m. knows what to fix. Batch and stream loops catch ``ContimgError`` per item,
record it on that item and go on.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "CalibrationError",
    "CatalogError",
    "ConfigError",
    "ContimgError",
    "ContimgWarning",
    "ConversionError",
    "DatabaseError",
    "ImagingError",
    "InvalidImageError",
    "JobError",
    "MosaicError",
    "NormalizationError",
    "NotFoundError",
    "SchemaError",
    "StreamError",
    "ToolMissingError",
]


class ContimgError(Exception):
    """Base class of every error the pipeline raises on purpose.

    ``retryable`` (True unless a subclass says otherwise) tells a batch worker whether another
    attempt may succeed.

    Parameters
    ----------
    message : str
        What went wrong and what was expected.
    path : str or Path, optional
        The file concerned; when given it is prefixed to the message.
    """

    retryable: bool = True

    def __init__(self, message: str, *, path: str | Path | None = None) -> None:
        self.path = str(path) if path is not None else None
        #: Whether trying again may succeed (batch items failing otherwise fail at once).
        self.retryable = type(self).retryable
        self.message = message
        super().__init__(f"{self.path}: {message}" if self.path else message)


class ConfigError(ContimgError):
    """A setting, TOML file or command-line option is invalid."""


class InvalidImageError(ContimgError):
    """A file is not a readable FITS image, or lacks a usable celestial WCS.

    Such an error cannot change on a retry (``retryable`` is False), so a batch item failing
    with it fails at once; a missing file is the exception (it may yet appear), raised with
    ``retryable`` set True on the instance.
    """

    retryable = False


class CatalogError(ContimgError):
    """A catalog file cannot be parsed, or a catalog is unknown or not ingested."""


class DatabaseError(ContimgError):
    """The database cannot be reached or a stored record is inconsistent."""


class SchemaError(DatabaseError):
    """The database schema is not at the version this code expects."""


class NotFoundError(ContimgError):
    """A requested record (job, data product, source) does not exist."""


class JobError(ContimgError):
    """A batch job cannot be created, claimed or run as asked."""


class ConversionError(ContimgError):
    """A UVH5 group cannot be read or converted to a Measurement Set."""


class ImagingError(ContimgError):
    """Imaging (WSClean, primary beam) failed for a Measurement Set."""


class ToolMissingError(ContimgError):
    """An external program (such as ``wsclean``) is not installed."""


class StreamError(ContimgError):
    """A streaming group or file is invalid (incomplete, unreadable, timed out)."""


class MosaicError(ContimgError):
    """A mosaic group cannot be built (missing, unreadable or mismatched inputs)."""


class CalibrationError(ContimgError):
    """Flagging, calibration or a calibrator look-up failed, or a group cannot be calibrated.

    Raised for a Measurement Set when a CASA task fails, or by the stream for a group.
    """


class NormalizationError(ContimgError):
    """Normalization cannot be applied (no baselines, too few references)."""


class ContimgWarning(UserWarning):
    """Warnings issued by the pipeline itself (errors in the test-suite)."""
