"""Files sent to the console (enrolment photos; a CSV with the photos it names) and the office's enroller.

The code that reads them (``edge.registry.enrol``, ``edge.registry.importer``) reads files, so an upload is checked
(size,
a safe relative name) and written into a private folder of its own (mode 0700) under the office's state
directory (``uploads/`` beside its database, mode 0700; never the shared /tmp), removed as soon as the
request is done, however it ends; what a killed office left there is removed when the console starts
(``clear_uploads``): no photo outlives its request unless ``enrolment.keep_photos`` asks the registry to
keep it. Messages name a file as it was sent, never the folder.

``SharedEnroller`` loads the office's face models once, on first use, and lets one enrolment run at a
time (the models are not re-entrant); it runs on the console's worker pool, never on the event loop.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from edge.office.console.words import field as named
from edge.schemas.phrases import Message, tell

MAX_PHOTO_BYTES = 10 * 1024 * 1024  # a phone's photo is 2-6 MB
MAX_CSV_BYTES = 2 * 1024 * 1024  # a whole compound's people.csv is far below this
MAX_PHOTOS_PER_PERSON = 5
MAX_IMPORT_PHOTOS = 2000
MAX_BODY_BYTES = 200 * 1024 * 1024  # an import of many photos; anything larger is refused unread
_PART = re.compile(r"^\w[\w .()+-]{0,99}$")  # \w: letters of every script, digits, _


def check_length(request) -> None:
    """413 before reading a body that says it is larger than any upload the console accepts. A body that
    does not say (chunked) is counted as it arrives by the console's ``Guard`` (``guard.body_limit``)."""
    from edge.office.console.fields import digits

    length = digits((request.headers.get("content-length") or "").strip())
    if length is not None and length > MAX_BODY_BYTES:
        raise HTTPException(413, tell("the upload is larger than {mb} MB; send fewer photos at a time",
                                      mb=MAX_BODY_BYTES // (1024 * 1024)))


def safe_name(filename: str | None, field: str) -> str:
    """The upload's relative name (``wang.jpg``, ``photos/wang.jpg``) if every part is plain, else 400."""
    name = (filename or "").replace("\\", "/").strip()
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if not parts or name.startswith("/") or any(p == ".." or not _PART.match(p) for p in parts):
        raise HTTPException(400, tell("{field}: {value!r} is not a plain file name (letters, digits, . _ - only)",
                                      field=named(field), value=filename))
    return "/".join(parts)


def files_of(form, field: str) -> list[UploadFile]:
    """The files sent as ``field`` (repeatable); an empty file input (no file chosen) is no file."""
    files = []
    for item in form.getlist(field):
        if not isinstance(item, UploadFile):
            if str(item).strip():
                raise HTTPException(400, tell("{field}: send a file (multipart/form-data), not text",
                                              field=named(field)))
            continue
        if not item.filename and not item.size:
            continue
        files.append(item)
    return files


def uploads_dir(config) -> Path:
    """Where the office's uploads wait while their request runs: ``uploads/`` beside its database."""
    return Path(config.database).resolve().parent / "uploads"


def _private(base: Path) -> Path:
    base.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(base, 0o700)  # mkdir's mode is cut by the umask, and an older folder may be wider
    return base


def clear_uploads(base: Path) -> None:
    """Remove what a killed office left in ``base`` (residents' photos of an import it did not finish)."""
    if base.is_dir():
        for leftover in base.iterdir():
            if leftover.name.startswith("upload-"):
                shutil.rmtree(leftover, ignore_errors=True)


@contextmanager
def private_folder(base: Path) -> Iterator[Path]:
    """A new folder in ``base`` only this process's user can read, removed with everything in it afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="upload-", dir=_private(base))).resolve()
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


async def save(upload: UploadFile, folder: Path, name: str, limit: int, field: str) -> Path:
    """Write ``upload`` as ``folder/name`` (at most ``limit`` bytes, else 413; an empty file is 400)."""
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise HTTPException(413, tell("{field}: {name} is larger than {mb} MB", field=named(field), name=name,
                                      mb=limit // (1024 * 1024)))
    if not data:
        raise HTTPException(400, tell("{field}: {name} is empty", field=named(field), name=name))
    path = folder / name
    if path.exists():
        raise HTTPException(400, tell("{field}: {name} was sent twice", field=named(field), name=name))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def hide(folder: Path, text: str) -> str:
    """``text`` with the temporary folder's path left out (a message names the file as it was sent)."""
    return text.replace(f"{folder}/", "").replace(str(folder), "")


def hide_in(folder: Path, said):
    """A message (``edge.schemas.phrases.Message``, or a text) with the temporary folder left out of its
    parameters."""
    if isinstance(said, str):
        return hide(folder, said)
    return Message(said.template, {k: hide(folder, v) if isinstance(v, str) else v for k, v in said.params.items()},
                   said.context)


class SharedEnroller:
    """The office's ``Enroller`` (site encoder, ``enrolment.detector``/``keep_photos``), loaded on first use."""

    def __init__(self, config):
        self.config = config
        self.lock = threading.Lock()
        self._enroller = None

    def get(self):
        """Call with ``lock`` held (on a worker thread): the enroller, loading the models the first time."""
        if self._enroller is None:
            from edge.registry.enrol import Enroller

            self._enroller = Enroller(self.config.recognition.face)
        return self._enroller


@dataclass
class Enrolment:
    """What turns uploaded photos into face templates, shared by the people's form and the CSV import: the
    office's enroller (one enrolment at a time) and the folder the photos wait in (``uploads_dir``)."""

    enroller: SharedEnroller
    uploads: Path
