"""The download cache: the files that tasks fetch from URLs, kept as ``DIR/<sha256 of the URL>``.

OSWorld's setup step ``download`` and getter ``cloud_file`` fetch files from Google Drive and
the like on every run. Here a URL's file is looked up in the folder given to ``eval --files``
under the SHA-256 hex digest of the URL string (no extension: the task's path gives the name
it gets), fetched there on first use, and read from there ever after, also offline. Where the
real file cannot be had, a stand-in of the right type can be put under the same name
(:mod:`evaluation.stand_ins`).

Fetching happens outside the task's sandbox, before its worker starts (the sandbox may read
the cache, never write it); :func:`task_urls` names every URL a task needs.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

from errors import BadInput
from evaluation.task import Task

FETCH_TIMEOUT = 60.0


class MissingFile(BadInput):
    """A URL whose file is not in the cache and could not be fetched; the message names the URL."""


class FileCache:
    """The folder of downloaded files, by URL."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def path(self, url: str) -> Path:
        return self.folder / hashlib.sha256(url.encode("utf-8")).hexdigest()

    def get(self, url: str) -> Path:
        """The cached file of ``url``; :class:`MissingFile` when there is none (never fetches)."""
        path = self.path(url)
        if not path.is_file():
            raise MissingFile(f"no file for {url} in the download cache {self.folder} (expected as {path.name})")
        return path

    def fetch(self, url: str) -> Path:
        """The cached file of ``url``, downloaded first if it is not there yet."""
        path = self.path(url)
        if path.is_file():
            return path
        self.folder.mkdir(parents=True, exist_ok=True)
        handle, partial = tempfile.mkstemp(dir=self.folder, prefix=".partial-")
        try:
            with os.fdopen(handle, "wb") as out, urllib.request.urlopen(url, timeout=FETCH_TIMEOUT) as response:
                shutil.copyfileobj(response, out)
            os.replace(partial, path)  # whole or not at all: a broken download leaves no file behind
        except (OSError, ValueError) as error:
            raise MissingFile(f"no file for {url} in the download cache {self.folder} (expected as {path.name}), "
                              f"and fetching it failed: {error}") from None
        finally:
            if os.path.exists(partial):
                os.unlink(partial)
        return path


def task_urls(task: Task) -> list[tuple[str, str]]:
    """Every URL the task downloads (setup, postconfig, ``cloud_file`` getters), with the file name it is given."""
    found: list[tuple[str, str]] = []
    for step in [*task.config, *task.evaluator.get("postconfig", [])]:
        if step.get("type") == "download":
            found += [(f["url"], Path(f["path"]).name) for f in (step.get("parameters") or {}).get("files", [])]
    for key in ("result", "expected"):
        specs = task.evaluator.get(key)
        for spec in specs if isinstance(specs, list) else [specs]:
            if isinstance(spec, dict) and spec.get("type") == "cloud_file":
                found += list(zip(*file_pairs(spec)))
    return found


def file_pairs(spec: dict[str, Any]) -> tuple[list[str], list[str]]:
    """A file getter's ``path`` (URLs for ``cloud_file``) and ``dest`` as lists (``multi`` gives lists)."""
    if spec.get("multi", False):
        return list(spec["path"]), list(spec["dest"])
    return [spec["path"]], [spec["dest"]]
