"""The exceptions of ptce_geo.

Every error raised on purpose by the library is a :class:`PtceGeoError`. Its message
names the thing at fault (a layer, a file, a feature) and the fix. The command line
prints ``str(error)`` on one line; the app shows :attr:`PtceGeoError.fr`, the French
wording, when there is one.
"""

from __future__ import annotations

__all__ = [
    "PtceGeoError",
    "CatalogueError",
    "DataUnavailable",
    "IntegrityError",
    "InvalidInput",
    "InvalidPerimeter",
    "UploadRejected",
]


class PtceGeoError(Exception):
    """Base class of every error ptce_geo raises on purpose.

    Parameters
    ----------
    message : str
        One line, in English, naming what is wrong and how to fix it.
    fr : str, optional
        The same message in French, for the app. Defaults to ``message``.
    """

    def __init__(self, message: str, *, fr: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fr = fr or message

    def __str__(self) -> str:  # one line, whatever the message holds
        return " ".join(self.message.split())


class CatalogueError(PtceGeoError):
    """A catalogue file is missing, unreadable or describes a layer wrongly."""


class DataUnavailable(PtceGeoError):
    """A boundary file cannot be had: offline, server error, missing mirror file."""


class IntegrityError(DataUnavailable):
    """A downloaded or cached file fails its size or checksum check."""


class InvalidInput(PtceGeoError):
    """A file or value given by the user cannot be used as it is."""


class InvalidPerimeter(InvalidInput):
    """A perimeter (pole) file or feature is malformed."""


class UploadRejected(InvalidInput):
    """An uploaded file is refused: too large, unsafe archive, unknown format."""
