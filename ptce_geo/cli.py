"""The ``ptce-geo`` command line (filled in below)."""

def main(argv=None) -> int:  # placeholder replaced by the CLI commit
    return 0
