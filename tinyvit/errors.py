"""The one exception type for mistakes a user can fix (bad input, bad config, bad file)."""


class TinyViTError(ValueError):
    """A problem the user can fix; the command line prints its message as a single line.

    It subclasses ValueError so that `except ValueError` in user code keeps working.
    """
