"""The one exception type the command line turns into a clear message, and how text is shown."""


class FirstappError(Exception):
    """A user-facing failure: the message says what went wrong and what to do next."""


def printable(text: str, keep: str = "") -> str:
    """``text`` safe for a terminal: every non-printable character (control characters such
    as ESC, so no escape sequence gets through; lone surrogates from undecodable input)
    written as a Python escape (``\\x1b``, ``\\udcff``), newlines and tabs too unless
    they are in ``keep``."""
    if text.isprintable():
        return text
    return "".join(
        c if c.isprintable() or c in keep
        else c.encode("unicode_escape", "backslashreplace").decode("ascii")
        for c in text
    )
