"""Errors a user can cause, as opposed to bugs.

`run.py` turns a `UserError` into one line on stderr and exit status 2 (see ../shared/CONTRACT.md);
anything else is a bug and keeps its traceback.
"""


class UserError(Exception):
    """Bad input from the user: a missing file, a camera that will not open, an invalid config."""
