"""The one exception type the command line turns into a clear message."""


class FirstappError(Exception):
    """A user-facing failure: the message says what went wrong and what to do next."""
