"""Download models from the Hugging Face hub: resumable, checked, with progress.

PersonaPlex-7B (gated) by default; Kyutai's speech-to-text model for the user's words
with `repo_id=STT_REPO_ID`.

huggingface_hub does the transfer (cache layout, `.incomplete` files and Range
resumes, Xet when installed). This module adds what the app needs around it:
the token from the keyring, a disk-space check up front, a hash check of every
file it fetched, progress callbacks with speed, and errors a user can act on.
No torch here: the GUI process imports this.
"""

from __future__ import annotations

import errno
import hashlib
import importlib
import os
import re
import shutil
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence

from ..core.errors import (
    MODEL_PAGE,
    ArcusError,
    AuthError,
    CorruptFileError,
    DiskFullError,
    ModelNotFoundError,
    NetworkError,
)

from . import constants as C
from . import stt_checkpoint as stt
from .checkpoint import file_hash, tensor_index

REPO_ID = "nvidia/personaplex-7b-v1"
MODEL_FILES = (C.LM_FILE, C.MIMI_FILE, C.TOKENIZER_FILE, C.VOICES_FILE, C.CONFIG_FILE)
# Kyutai's streaming speech-to-text (public): the user's words, from the same Mimi codes.
STT_REPO_ID = "kyutai/stt-1b-en_fr"
STT_FILES = (C.CONFIG_FILE, stt.LM_NAME, stt.MIMI_NAME, stt.TOKENIZER_NAME)
KNOWN_FILES = {REPO_ID: MODEL_FILES, STT_REPO_ID: STT_FILES}
TOKEN_PAGE = "https://huggingface.co/settings/tokens"

AUTH_HINT = (
    f"Sign in at {MODEL_PAGE} and accept the licence, create a read token at {TOKEN_PAGE}, "
    "then save it in Settings, pass it with `arcus-desktop download --token`, "
    "or set the HF_TOKEN environment variable."
)
NETWORK_HINT = (
    "Check your internet connection and try again: the download continues where it stopped. "
    "Or use a folder that already holds the model with --model-dir."
)
CORRUPT_HINT = "Run the download again; the damaged file was deleted, so it will be fetched anew."
# Files already there are hashed again up to this size; larger ones (the weights: hashing
# 16 GB takes minutes) get the engine's own check of their header.
RECHECK_HASH_BYTES = 64 << 20
_CANNOT_WRITE = (errno.EACCES, errno.EPERM, errno.EROFS)
_HEX = re.compile(r"[0-9a-fA-F]{40}|[0-9a-fA-F]{64}")  # git sha1 or sha256


@dataclass(frozen=True)
class DownloadProgress:
    filename: str
    file_done: int  # bytes of this file on disk so far
    file_total: int
    done: int  # bytes over all files
    total: int
    speed: float  # bytes/s, smoothed; 0 until measured


ProgressCallback = Callable[[DownloadProgress], None]


@dataclass(frozen=True)
class _Remote:
    """What the hub says a file is."""

    name: str
    size: int | None
    sha256: str | None  # LFS files
    git_sha1: str | None  # small files kept in git: sha1 of "blob <size>\0" + content


def download_model(
    repo_id: str = REPO_ID,
    *,
    revision: str | None = None,
    token: str | None = None,
    local_dir: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    files: Sequence[str] | None = None,
    progress: ProgressCallback | None = None,
    endpoint: str | None = None,
) -> Path:
    """Fetch `files` of the model (default: all it needs) and return the folder that
    holds them all.

    That folder is the snapshot in the Hugging Face cache, or `local_dir`.
    The token defaults to the keyring, then $HF_TOKEN. The endpoint defaults to
    $HF_ENDPOINT read now (huggingface_hub reads it only once, at import).
    An exception raised by `progress` stops the download; the next call resumes it.
    """
    if token is None:
        from ..settings.secrets import get_hf_token

        token = get_hf_token()
    endpoint = (endpoint or os.environ.get("HF_ENDPOINT") or _hub_constants().ENDPOINT).rstrip("/")
    local = Path(local_dir).expanduser() if local_dir is not None else None
    cache = None if local is not None else _cache_root(cache_dir)
    files = model_files(repo_id) if files is None else files
    try:
        return _download(repo_id, revision, token, endpoint, local, cache, tuple(files), progress)
    except ArcusError:
        raise
    except Exception as exc:
        error = _user_error(exc, token=token, repo_id=repo_id, revision=revision)
        if error is None:
            raise
        raise error from exc


def find_cached_model(
    repo_id: str = REPO_ID, cache_dir: str | os.PathLike | None = None, *, revision: str | None = None,
    files: Sequence[str] | None = None,
) -> Path | None:
    """The cached snapshot folder if it holds every file the model needs; no network."""
    from huggingface_hub import try_to_load_from_cache

    cache = _cache_root(cache_dir)
    roots = set()
    for name in model_files(repo_id) if files is None else files:
        found = try_to_load_from_cache(repo_id, name, cache_dir=str(cache), revision=revision)
        if not isinstance(found, str) or not os.path.isfile(found):
            return None
        roots.add(_root_of(Path(found), name))
    return roots.pop() if len(roots) == 1 else None


def model_files(repo_id: str) -> tuple[str, ...]:
    """The files of a model this app knows."""
    try:
        return KNOWN_FILES[repo_id]
    except KeyError:
        raise ValueError(f"unknown model {repo_id}: name its files") from None


# -- the download ------------------------------------------------------------


def _download(repo_id: str, revision: str | None, token: str | None, endpoint: str,
              local: Path | None, cache: Path | None, files: tuple[str, ...],
              progress: ProgressCallback | None) -> Path:
    from huggingface_hub import hf_hub_download

    commit, remote = _fetch_metadata(repo_id, revision, token, endpoint, files)
    had = {name for name in files if _have(repo_id, commit, remote[name], local, cache)}
    needed = sum(remote[n].size or 0 for n in files if n not in had)
    if needed:
        _check_writable(local or cache)
    _check_disk_space(local or cache, needed)

    reporter = _Reporter(progress, total=sum(r.size or 0 for r in remote.values()))
    roots: list[Path] = []
    for name in files:
        reporter.start_file(name, remote[name].size or 0)
        if name not in had:
            _check_names(repo_id, name, revision, token, endpoint)
        with _progress_hook(reporter):
            path = Path(hf_hub_download(
                repo_id, name, revision=revision, token=token or False, endpoint=endpoint,
                local_dir=str(local) if local is not None else None,
                cache_dir=str(cache) if cache is not None else None,
            ))
        if not path.resolve().is_relative_to((local or cache).resolve()):
            raise _refused(name)  # it asked again and was answered otherwise: leave it be
        # Files fetched now get a full hash check; ones already there were checked when fetched.
        _verify(path, remote[name], full_check=name not in had)
        reporter.finish_file()
        roots.append(_root_of(path, name))
    return roots[0] if roots else (local or cache)


def _check_names(repo_id: str, name: str, revision: str | None, token: str | None,
                 endpoint: str) -> None:
    """huggingface_hub names what it writes by the hub's ETag and commit: a hostile hub
    (or HF_ENDPOINT pointing at one) could lead them out of the cache with "../". The
    real hub's are hex digests."""
    from huggingface_hub import get_hf_file_metadata, hf_hub_url

    meta = get_hf_file_metadata(hf_hub_url(repo_id, name, revision=revision, endpoint=endpoint),
                                token=token or False)
    if not _HEX.fullmatch(meta.etag or "") or not _HEX.fullmatch(meta.commit_hash or "0" * 40):
        raise _refused(name)


def _refused(name: str) -> ArcusError:
    return NetworkError(f"The model server sent a file name for {name} that leads outside "
                        "the download folder; the download stopped there.",
                        "Check that HF_ENDPOINT, if set, points at Hugging Face or a mirror "
                        "you trust, then download again.")


def _fetch_metadata(repo_id: str, revision: str | None, token: str | None, endpoint: str,
                    files: tuple[str, ...]) -> tuple[str | None, dict[str, _Remote]]:
    """The commit that `revision` points to, and what each file should be."""
    from huggingface_hub import HfApi

    info = HfApi(endpoint=endpoint, token=token or False).model_info(
        repo_id, revision=revision, files_metadata=True)
    siblings = {s.rfilename: s for s in info.siblings or []}
    missing = [n for n in files if n not in siblings]
    if missing:
        raise ModelNotFoundError(
            f"The model {repo_id} on Hugging Face has no {', '.join(missing)}.",
            "Check the model name and revision, or update Arcus.",
        )
    remote = {}
    for name in files:
        s = siblings[name]
        if s.lfs is not None:
            remote[name] = _Remote(name, s.lfs.size, s.lfs.sha256, None)
        else:
            remote[name] = _Remote(name, s.size, None, s.blob_id)
    return info.sha, remote


def _have(repo_id: str, commit: str | None, remote: _Remote, local: Path | None,
          cache: Path | None) -> bool:
    """Whether the file is already whole on disk (then nothing is transferred). One that
    is there but damaged (the engine may have said so) is deleted, so that it is fetched
    anew: huggingface_hub would hand back the copy it has, damaged or not."""
    if local is not None:
        path = local / remote.name
    else:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(repo_id, remote.name, cache_dir=str(cache), revision=commit)
        if not isinstance(found, str):
            return False
        path = Path(found)
    if not path.is_file():
        return False
    small = path.stat().st_size <= RECHECK_HASH_BYTES
    if _matches(path, remote, full_check=small) and (small or _header_whole(path)):
        return True
    _remove(path)
    return False


def _header_whole(path: Path) -> bool:
    """A large file's cheap check, the one the engine makes before reading weights:
    a safetensors header that parses and fits the file's length."""
    if path.suffix != ".safetensors":
        return True
    try:
        tensor_index(path)
    except CorruptFileError:
        return False
    return True


def _check_writable(target: Path) -> None:
    """Before the space check: a read-only or forbidden folder has its own way forward."""
    try:
        target.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=target).close()
    except OSError as e:
        if e.errno in _CANNOT_WRITE:
            raise _cannot_write(e.filename or str(target), e.errno) from e
        raise


def _cannot_write(where: str, code: int) -> ArcusError:
    return ArcusError(f"Arcus cannot write the model to {where}: {os.strerror(code).lower()}.",
                      "Choose a folder you can write to (Settings > Engine > Model folder, "
                      "or --model-dir), or free the folder's permissions.")


def _check_disk_space(target: Path, needed: int) -> None:
    where = target
    while not where.exists() and where.parent != where:
        where = where.parent
    free = shutil.disk_usage(where).free
    if needed > free:
        raise DiskFullError(
            f"Not enough disk space: the model needs {_size(needed)} more, "
            f"but only {_size(free)} is free in {target}.",
            "Free up space there, or download to another drive with --model-dir.",
        )


def _matches(path: Path, remote: _Remote, full_check: bool) -> bool:
    """The file's size, and with `full_check` its hash, are what the hub published."""
    size = path.stat().st_size
    ok = remote.size is None or size == remote.size
    if ok and full_check and remote.sha256:
        ok = file_hash(path, hashlib.sha256()) == remote.sha256.lower()
    elif ok and full_check and remote.git_sha1 and len(remote.git_sha1) == 40:
        ok = file_hash(path, hashlib.sha1(b"blob %d\0" % size)) == remote.git_sha1.lower()
    return ok


def _verify(path: Path, remote: _Remote, full_check: bool) -> None:
    if _matches(path, remote, full_check):
        return
    _remove(path)
    raise CorruptFileError(
        f"{remote.name} came down damaged: its contents do not match what Hugging Face published.",
        CORRUPT_HINT,
        path=str(path),
    )


def _remove(path: Path) -> None:
    """Delete a file and, in the HF cache, the blob its snapshot link points to: only a
    blob in that repo's blobs/ (the link's target is named by the hub, see _check_names)."""
    doomed = [path]
    snapshots = next((p for p in path.parents if p.name == "snapshots"), None)
    if path.is_symlink() and snapshots is not None:
        blob = path.resolve()
        if blob.parent == (snapshots.parent / "blobs").resolve():
            doomed.append(blob)
    for p in doomed:
        try:
            p.unlink()
        except FileNotFoundError:
            pass


def _root_of(path: Path, name: str) -> Path:
    return path.parents[len(Path(name).parts) - 1]


def _cache_root(cache_dir: str | os.PathLike | None) -> Path:
    """The HF hub cache, from the environment as it is now (tests and users may change it)."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(var):
            return Path(os.environ[var]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    return Path(_hub_constants().HF_HUB_CACHE).expanduser()


def _hub_constants():
    from huggingface_hub import constants

    return constants


def _size(n: int) -> str:
    return f"{n / 2**30:.1f} GB" if n >= 2**30 else f"{n / 2**20:.1f} MB"


# -- progress ----------------------------------------------------------------


class _Reporter:
    """Turns byte counts from huggingface_hub's progress bars into DownloadProgress calls."""

    INTERVAL = 0.25  # seconds between updates, so a GUI is not flooded

    def __init__(self, callback: ProgressCallback | None, total: int) -> None:
        self.callback = callback
        self.total = total
        self.finished = 0  # bytes of files already complete
        self.name = ""
        self.file_done = 0
        self.file_total = 0
        self.moved = 0  # bytes transferred in this call, for the speed
        self.speed = 0.0
        self._last_time = time.monotonic()
        self._last_moved = 0
        self._lock = threading.Lock()

    def start_file(self, name: str, size: int) -> None:
        with self._lock:
            self.name, self.file_total, self.file_done = name, size, 0
            self._emit(force=True)

    def begin(self, initial: int) -> None:
        """A progress bar opened; `initial` is what a resumed transfer already has."""
        with self._lock:
            self.file_done = initial
            self._emit(force=True)

    def advance(self, n: int) -> None:
        with self._lock:
            self.file_done += n
            self.moved += n
            self._emit(force=False)

    def finish_file(self) -> None:
        with self._lock:
            self.file_done = self.file_total
            self._emit(force=True)
            self.finished += self.file_total
            self.file_done = self.file_total = 0

    def _emit(self, force: bool) -> None:
        now = time.monotonic()
        elapsed = now - self._last_time
        if not force and elapsed < self.INTERVAL:
            return
        if elapsed >= 0.05:  # shorter spans give wild rates
            rate = (self.moved - self._last_moved) / elapsed
            self.speed = rate if self.speed == 0.0 else 0.3 * rate + 0.7 * self.speed
            self._last_time, self._last_moved = now, self.moved
        if self.callback is not None:
            done = self.finished + min(self.file_done, self.file_total or self.file_done)
            self.callback(DownloadProgress(self.name, self.file_done, self.file_total,
                                           min(done, self.total), self.total, self.speed))


_local = threading.local()
_patch_lock = threading.Lock()
_patch_users = 0
_saved_tqdm = None
_bar_class_cache = None


def _bar_class():
    """A huggingface_hub tqdm that feeds the reporter of the thread that created it."""
    global _bar_class_cache
    if _bar_class_cache is None:
        from huggingface_hub.utils import tqdm as hf_tqdm

        class _ReportingBar(hf_tqdm):
            def __init__(self, *args, **kwargs):
                self._reporter = getattr(_local, "reporter", None)
                if self._reporter is not None:
                    kwargs["disable"] = True  # the callback replaces the console bar
                    self._reporter.begin(int(kwargs.get("initial") or 0))
                super().__init__(*args, **kwargs)

            def update(self, n=1):
                if self._reporter is not None and n:
                    self._reporter.advance(int(n))
                return super().update(n)

        _bar_class_cache = _ReportingBar
    return _bar_class_cache


@contextmanager
def _progress_hook(reporter: _Reporter) -> Iterator[None]:
    """Route hf_hub_download's progress to `reporter` for the time of the call.

    huggingface_hub 0.x (pinned: moshi needs <1) takes no progress class for one file:
    snapshot_download's `tqdm_class` counts files, not bytes. Its byte bars are made by
    `huggingface_hub.utils.tqdm.tqdm`, looked up at each transfer, so that is swapped.
    Bars created by other threads meanwhile behave as before (no reporter).
    """
    global _patch_users, _saved_tqdm
    # `huggingface_hub.utils.tqdm` as an attribute is the class, not the module.
    module = importlib.import_module("huggingface_hub.utils.tqdm")
    _local.reporter = reporter
    with _patch_lock:
        if _patch_users == 0:
            _saved_tqdm = module.tqdm
            module.tqdm = _bar_class()
        _patch_users += 1
    try:
        yield
    finally:
        _local.reporter = None
        with _patch_lock:
            _patch_users -= 1
            if _patch_users == 0:
                module.tqdm = _saved_tqdm


# -- errors ------------------------------------------------------------------


def _user_error(exc: BaseException, *, token: str | None, repo_id: str,
                revision: str | None) -> ArcusError | None:
    """The ArcusError a user should see for `exc`, or None to let it through."""
    from huggingface_hub import errors as hf

    status = getattr(getattr(exc, "response", None), "status_code", None)
    if isinstance(exc, hf.GatedRepoError):  # subclass of RepositoryNotFoundError: test it first
        if not token:
            return _missing_token()
        return _bad_token() if status == 401 else _no_access()
    if isinstance(exc, hf.RepositoryNotFoundError):
        if repo_id != REPO_ID:  # public models: no token involved
            return ModelNotFoundError(f"Hugging Face has no model {repo_id}.",
                                      f"Check that https://huggingface.co/{repo_id} opens, "
                                      "or update Arcus.")
        if not token:
            return _missing_token()
        return ModelNotFoundError(
            f"Hugging Face has no model {repo_id}, or your token cannot see it.",
            f"Check that {MODEL_PAGE} opens when you are signed in, and that the token "
            "belongs to that account.",
        )
    if isinstance(exc, hf.RevisionNotFoundError):
        return ModelNotFoundError(f"The model {repo_id} has no revision {revision!r}.",
                                  "Leave the revision out to get the latest one.")
    if isinstance(exc, (hf.LocalEntryNotFoundError, hf.OfflineModeIsEnabled)):
        # LocalEntryNotFoundError: the hub could not be reached and nothing is cached.
        return _network(exc)
    if isinstance(exc, hf.EntryNotFoundError):
        return ModelNotFoundError(f"A file of {repo_id} is missing on Hugging Face.",
                                  "Update Arcus, or use a folder that holds the model with --model-dir.")
    if isinstance(exc, hf.HfHubHTTPError) and status is not None:
        if status == 401:
            return _bad_token() if token else _missing_token()
        if status == 403:
            return _no_access()
        if status == 429 or status >= 500:
            return NetworkError(f"Hugging Face is not answering properly right now (HTTP {status}).",
                                "Try again in a few minutes: the download continues where it stopped.")
        return ArcusError(f"Hugging Face refused the download (HTTP {status}).",
                          "Try again later, or use a folder that holds the model with --model-dir.")
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        where = f" in {exc.filename}" if getattr(exc, "filename", None) else ""
        return DiskFullError(f"The disk filled up while downloading the model{where}.",
                             "Free up space and run the download again: it continues where it stopped.")
    if isinstance(exc, OSError) and exc.errno in _CANNOT_WRITE and exc.filename:
        return _cannot_write(exc.filename, exc.errno)  # a file's, not a socket's
    if isinstance(exc, _network_errors()):
        return _network(exc)
    if isinstance(exc, OSError) and "Consistency check failed" in str(exc):
        # huggingface_hub's size check after a transfer.
        return CorruptFileError("A model file came down with the wrong size.",
                                "Run the download again.")
    return None


def _missing_token() -> AuthError:
    return AuthError("PersonaPlex-7B is a gated model: downloading it needs a Hugging Face "
                     "access token, and none is set.", AUTH_HINT)


def _bad_token() -> AuthError:
    return AuthError("Hugging Face rejected the access token: it is invalid or has expired.",
                     AUTH_HINT)


def _no_access() -> AuthError:
    return AuthError("Your Hugging Face account has no access to PersonaPlex-7B yet: the licence "
                     "is not accepted, or the token may not read gated models.", AUTH_HINT)


def _network(exc: BaseException) -> NetworkError:
    from huggingface_hub.errors import OfflineModeIsEnabled

    if isinstance(exc, OfflineModeIsEnabled):
        return NetworkError("Downloads from Hugging Face are switched off (HF_HUB_OFFLINE is set).",
                            "Unset HF_HUB_OFFLINE, or use a folder that holds the model with --model-dir.")
    return NetworkError("Could not reach Hugging Face, or the connection broke during the download.",
                        NETWORK_HINT)


def _network_errors() -> tuple[type[BaseException], ...]:
    import requests  # huggingface_hub 0.x talks through requests

    return (ConnectionError, TimeoutError, requests.ConnectionError, requests.Timeout,
            requests.exceptions.ChunkedEncodingError)
