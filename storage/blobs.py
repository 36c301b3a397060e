"""Content-addressed blob store: raw emails and attachments kept by sha256, written atomically."""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

WRITERS = 8  # blobs written at once by put_many
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _writers() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(WRITERS, thread_name_prefix="confere-blob")
        return _pool


class BlobStore:
    """Files under root/ab/cd/<sha256>; a blob written once is never rewritten."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def path(self, sha256: str) -> Path:
        """Where the blob with this digest lives."""
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put(self, data: bytes) -> str:
        """Store bytes (idempotent) and return their sha256."""
        digest = hashlib.sha256(data).hexdigest()
        target = self.path(digest)
        if target.exists():
            return digest
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return digest

    def put_many(self, items: Sequence[bytes]) -> list[str]:
        """Store several blobs at once and return their sha256s, in order.

        Each is as durable as with put, but their writes and fsyncs overlap: the disk's
        journal commits them together, where one after another costs a commit each.
        """
        return [f.result() for f in self.put_async(items)]

    def put_async(self, items: Sequence[bytes]) -> list[Future[str]]:
        """Start storing blobs in the background (each as durable as with put), so that the
        caller does its own work while the disk syncs; it waits on the futures before it
        commits anything that names them."""
        return [_writers().submit(self.put, data) for data in items]

    def get(self, sha256: str) -> bytes:
        """The bytes of a stored blob; FileNotFoundError when absent."""
        return self.path(sha256).read_bytes()

    def __contains__(self, sha256: str) -> bool:
        return self.path(sha256).exists()
