"""The one exception type for mistakes a user can fix (bad input, bad config, bad file)."""


class TinyViTError(ValueError):
    """A problem the user can fix; the command line prints its message as a single line.

    It subclasses ValueError so that `except ValueError` in user code keeps working.
    """


def describe(value) -> str:
    """How an error message names what it got: 'an int64 array of shape (3,)', 'a list'."""
    import numpy as np

    what = f"{value.dtype} array of shape {value.shape}" if isinstance(value, np.ndarray) else type(value).__name__
    return ("an " if what[0] in "aeiou" else "a ") + what
