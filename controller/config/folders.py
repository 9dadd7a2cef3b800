"""How long a folder's name may be: what a file system takes (no pydantic, so a command that
reads journals only checks a `--data-dir` without loading the room's models)."""

from __future__ import annotations

MAX_NAME_BYTES = 255
"""The longest file or folder name a file system takes (NAME_MAX of Linux's and most)."""
MAX_FOLDER_BYTES = 4000
"""A folder's whole path, below PATH_MAX (4096) with room for the files in it."""


def folder_problem(folder: str) -> str | None:
    """Why `folder` (a path config.yaml gives) names no folder a file system takes, or None: a
    name in it longer than `MAX_NAME_BYTES` ended `check` and `sessions` with "OSError: File
    name too long"."""
    size = len(folder.encode("utf-8", "surrogatepass"))
    if size > MAX_FOLDER_BYTES:
        return f"a path of {size} bytes is longer than {MAX_FOLDER_BYTES} bytes"
    for name in folder.split("/"):
        size = len(name.encode("utf-8", "surrogatepass"))
        if size > MAX_NAME_BYTES:
            return (
                f"a folder name of {size} bytes is longer than {MAX_NAME_BYTES} bytes, the "
                "most a file system takes"
            )
    return None
