"""Functions the worker tests run in child processes (module level: pickled by reference)."""

from __future__ import annotations

import os
import tempfile
import time


def keep_a_copy(seconds: float) -> str:
    """As an upload is read: a copy in a temporary folder of its own, then the work; returns
    the folder it used."""
    with tempfile.TemporaryDirectory(prefix="ptce_upload_") as tmp:
        with open(os.path.join(tmp, "upload.geojson"), "w") as f:
            f.write("{}")
        time.sleep(seconds)
        return tmp
