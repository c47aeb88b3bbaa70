"""Output paths checked before any work: a folder that cannot be written is one line and exit 2 at
once, not a traceback after minutes of feature extraction."""

from __future__ import annotations

import os

from core.errors import UserError


def _folder(path: str, name: str) -> None:
    """Create `path` if needed and check it can be written; `name` says what it is in the message."""
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create {name}: {exc.strerror or exc}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise UserError(f"{name} is not writable")


def writable_dir(path: str, what: str) -> str:
    if os.path.exists(path) and not os.path.isdir(path):
        raise UserError(f"{what} {path} is a file, not a folder")
    _folder(path, f"{what} folder {path}")
    return path


def writable_file(path: str, what: str, suffixes: tuple[str, ...] = ()) -> str:
    if os.path.isdir(path):
        raise UserError(f"{what} {path} is a folder, not a file")
    if suffixes and not path.lower().endswith(suffixes):
        raise UserError(f"{what} {path}: the file name must end in {' or '.join(suffixes)}")
    parent = os.path.dirname(os.path.abspath(path))
    _folder(parent, f"the folder {parent} of {what} {path}")
    if os.path.exists(path) and not os.access(path, os.W_OK):
        raise UserError(f"{what} {path} is not writable")
    return path
