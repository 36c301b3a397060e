"""Content-addressed blob store: raw emails and attachments kept by sha256, written atomically."""

from __future__ import annotations

import ctypes
import hashlib
import os
import tempfile
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

WRITERS = 8  # blobs written at once by put_async
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _writers() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(WRITERS, thread_name_prefix="confere-blob")
        return _pool


def _load_syncfs() -> Callable[[int], int] | None:
    """syncfs(2) from the C library the interpreter runs on (Linux), else None."""
    try:
        return ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):
        return None


_syncfs = _load_syncfs()


class BlobStore:
    """Files under root/ab/cd/<sha256>; a blob written once is never rewritten."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self._unsynced = False  # a blob was written with durable=False since the last sync()

    def path(self, sha256: str) -> Path:
        """Where the blob with this digest lives."""
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put(self, data: bytes, *, durable: bool = True) -> str:
        """Store bytes (idempotent) and return their sha256.

        durable=False skips the file's own fsync: the caller calls sync() on this store
        before it commits anything that names the blob (one sync for many blobs).
        """
        digest = hashlib.sha256(data).hexdigest()
        target = self.path(digest)
        if target.exists():
            return digest
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                if durable:
                    fh.flush()
                    os.fsync(fh.fileno())
            os.replace(tmp, target)
            self._unsynced = self._unsynced or not durable  # after the write: sync() covers it
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return digest

    def put_many(self, items: Sequence[bytes]) -> list[str]:
        """Store several blobs and return their sha256s, in order, all durable when it
        returns: written without their own fsyncs, then one sync() for all of them."""
        digests = [self.put(data, durable=False) for data in items]
        self.sync()
        return digests

    def put_async(self, items: Sequence[bytes], *, durable: bool = True) -> list[Future[str]]:
        """Start storing blobs in the background, so that the caller does its own work
        meanwhile; it waits on the futures (and calls sync() when not durable) before it
        commits anything that names them."""
        return [_writers().submit(self.put, data, durable=durable) for data in items]

    def sync(self) -> None:
        """Make the blobs written with durable=False safe on disk (nothing to do when none
        was): one syncfs(2) of the store's file system costs one journal commit, where a
        fsync a file costs one each."""
        if not self._unsynced:
            return
        self._unsynced = False  # before the sync: a write after it sets it again
        fd = os.open(self.root, os.O_RDONLY)
        try:
            if _syncfs is None or _syncfs(fd) != 0:
                os.sync()  # not Linux, or syncfs refused: every file system
        finally:
            os.close(fd)

    def get(self, sha256: str) -> bytes:
        """The bytes of a stored blob; FileNotFoundError when absent."""
        return self.path(sha256).read_bytes()

    def __contains__(self, sha256: str) -> bool:
        return self.path(sha256).exists()
