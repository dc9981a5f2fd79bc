"""The one exception type the CLI turns into a clear message instead of a traceback."""


class MelvaeError(Exception):
    """A problem with the user's input: a bad path, a corrupt file, a mismatched checkpoint."""
