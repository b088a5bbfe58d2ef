"""Errors that the CLI reports as one clear line (exit code 2)."""


class UserError(Exception):
    """A problem with what the user asked for: bad flag, bad path, bad data.

    The CLI prints ``error: <message>`` and exits with code 2, without a traceback.
    """


class DataError(UserError):
    """A data path that is missing, unreadable or holds data of the wrong shape."""
