"""The one exception type users see: its message is a single line naming the file and the problem."""


class MydigitsError(Exception):
    """A problem with the user's input or environment, reported as one clear line (no traceback)."""
