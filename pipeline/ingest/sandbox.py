"""Parsing in a process pool with a per-message time and memory limit (hostile PDFs, bombs)."""

from __future__ import annotations

import multiprocessing
import os
import resource
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, wait
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

from parsers import ParseError
from parsers.message import ParsedMessage, parse_message
from pipeline.ingest.prejudge import JudgeKit, Prejudged, prejudge
from pipeline.ingest.processes import process_gone


@dataclass(frozen=True)
class Failed:
    """A message the parser could not finish: why, in words for the quarantine reason."""

    reason: str


Outcome = ParsedMessage | Prejudged | Failed
WORKER_NICENESS = 5
OWNER_CHECK_SECONDS = 2.0
_KIT: JudgeKit | None = None  # this worker's judging kit, from the pool's start


def _exit_with(pid: int) -> None:
    """End this worker when the pool's owner dies (a kill -9 of the daemon): it would wait
    on its task queue for ever otherwise, itself holding the queue's other end."""
    while not process_gone(pid):
        time.sleep(OWNER_CHECK_SECONDS)
    os._exit(0)


def _limit_worker(megabytes: int, kit: JudgeKit | None = None, owner: int | None = None
                  ) -> None:
    """A worker's limits: its address space, and a lower priority than the process storing
    what it parses and judges (that one is serial: the workers should wait on it, never it
    on them); the kit to judge bills with; and its end when the owner process dies."""
    global _KIT
    if owner is not None:
        threading.Thread(target=_exit_with, args=(owner,), name="confere-owner-watch",
                         daemon=True).start()
    limit = megabytes * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    os.nice(WORKER_NICENESS)
    # Ctrl-C reaches the whole process group: the daemon finishes and stops its pool; a worker
    # interrupted mid-wait would only print a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _KIT = kit


def _run(work: Callable[[bytes, int], Outcome], raw: bytes, max_attachment_bytes: int
         ) -> Outcome:
    """Parse, then judge offline here in the worker when the pool was given a kit."""
    outcome = work(raw, max_attachment_bytes)
    if _KIT is not None and isinstance(outcome, ParsedMessage):
        try:
            return prejudge(outcome, _KIT)
        except MemoryError:
            return Failed("ran out of memory while judging (per-message limit)")
    return outcome


def _ready() -> None:
    """Nothing: submitted to make the pool start its workers."""


def _work(raw: bytes, max_attachment_bytes: int) -> Outcome:
    try:
        return parse_message(raw, max_attachment_bytes)
    except ParseError as exc:
        return Failed(f"unreadable message: {exc}")
    except MemoryError:
        return Failed("ran out of memory while parsing (per-message limit)")
    except Exception as exc:
        return Failed(f"unreadable message ({type(exc).__name__}: {exc})")


# Imported once by the fork server, before it forks any worker: each worker (and each one
# started again after a kill) then begins with the parsers and checks loaded, instead of paying
# ~1.2 s of CPU importing them itself.
PRELOAD = ["parsers.message", "pipeline.ingest.prejudge"]


def _context() -> multiprocessing.context.ForkServerContext:
    """The fork server context, told what to preload (read when the server starts)."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    return ctx  # type: ignore[return-value]


class Sandbox:
    """Parses messages in worker processes; a hang or crash costs one message, not the run."""

    def __init__(self, workers: int = 0, seconds: float = 20.0, memory_mb: int = 1024,
                 max_attachment_bytes: int = 20 * 1024 * 1024,
                 work: Callable[[bytes, int], Outcome] | None = None) -> None:
        self.work = work or _work
        self.workers = workers or os.cpu_count() or 1
        self.seconds = seconds
        self.memory_mb = memory_mb
        self.max_attachment_bytes = max_attachment_bytes
        self.kit: JudgeKit | None = None
        self._pool: ProcessPoolExecutor | None = None
        self._inflight: deque[tuple[object, bytes, Future[Outcome], float]] = deque()
        self._taken: deque[float] = deque(maxlen=self.workers)  # when the last results came

    def judge_with(self, kit: JudgeKit | None) -> None:
        """Judge bills offline in the workers with this kit (a running pool restarts once)."""
        if kit != self.kit:
            self.kit = kit
            self.close()

    def warm(self) -> None:
        """Start the workers now, in the background, unless they run already (the first
        parse would otherwise wait for them: ~1 s of starting that a download can hide)."""
        if self._pool is not None:
            return
        pool = self._executor()
        for _ in range(self.workers):
            pool.submit(_ready)

    def next_ready(self, timeout: float = 0.0) -> bool:
        """Whether the next outcome map() will yield is there, waiting up to timeout for it."""
        if not self._inflight:
            return False
        head = self._inflight[0][2]
        return head.done() or (timeout > 0 and bool(wait([head], timeout=timeout).done))

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=_context(),
                initializer=_limit_worker,
                initargs=(self.memory_mb, self.kit, os.getpid()),
            )
        return self._pool

    def _kill(self) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        for proc in list(getattr(pool, "_processes", {}).values()):
            proc.kill()
        pool.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        """Stop the workers."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _submit(self, raw: bytes) -> Future[Outcome]:
        return self._executor().submit(_run, self.work, raw, self.max_attachment_bytes)

    def map(self, items: Iterable[tuple[object, bytes | None]], ahead: int = 0
            ) -> Iterator[tuple[object, Outcome | None]]:
        """Parse (key, raw) pairs lazily, yielding (key, outcome) in input order.

        A raw of None passes through untouched as (key, None), keeping its place in the order.
        Two messages a worker are kept in flight, plus `ahead` (for a caller that takes its
        outcomes in batches: the workers keep parsing while it judges one).
        """
        inflight: deque[tuple[object, bytes, Future[Outcome], float]] = deque()
        self._inflight = inflight
        self._taken.clear()
        source = iter(items)
        exhausted = False
        while True:
            while not exhausted and len(inflight) < self.workers * 2 + ahead:
                try:
                    key, raw = next(source)
                except StopIteration:
                    exhausted = True
                    break
                if raw is None:
                    done: Future[Outcome] = Future()
                    done.set_result(None)  # type: ignore[arg-type]
                    inflight.append((key, b"", done, time.monotonic()))
                else:
                    inflight.append((key, raw, self._submit(raw), time.monotonic()))
            if not inflight:
                return
            key, raw, fut, started = inflight.popleft()
            yield key, self._result(raw, fut, started, inflight)

    def _result(self, raw: bytes, fut: Future[Outcome], started: float,
                inflight: deque[tuple[object, bytes, Future[Outcome], float]]) -> Outcome:
        # Each message gets its full allowance from when a worker could take it: at the latest
        # when the message `workers` places ahead of it was done (the pool runs them in order).
        if len(self._taken) == self.workers:
            started = max(started, self._taken[0])
        try:
            outcome = fut.result(timeout=max(0.1, started + self.seconds - time.monotonic()))
            if raw:  # a message a worker parsed (not one stored before)
                self._taken.append(time.monotonic())
            return outcome
        except FutureTimeout:
            self._kill()
            self._resubmit(inflight)
            return Failed(f"parsing took longer than the {self.seconds:g} s limit")
        except MemoryError:
            return Failed("ran out of memory while parsing (per-message limit)")
        except BrokenProcessPool:
            self._kill()
            # Which message broke the pool is unknown: retry this one alone to find out.
            alone = self._run_alone(raw)
            self._resubmit(inflight)
            return alone

    def _run_alone(self, raw: bytes) -> Outcome:
        fut = self._submit(raw)
        try:
            return fut.result(timeout=self.seconds)
        except FutureTimeout:
            self._kill()
            return Failed(f"parsing took longer than the {self.seconds:g} s limit")
        except BrokenProcessPool:
            self._kill()
            return Failed("the parser crashed on this message (worker process died)")

    def _resubmit(self, inflight: deque[tuple[object, bytes, Future[Outcome], float]]) -> None:
        items = list(inflight)
        inflight.clear()
        for key, raw, old, _started in items:
            kept = old.done() and not old.cancelled() and not old.exception()
            fut = old if kept else self._submit(raw)
            inflight.append((key, raw, fut, time.monotonic()))


def parse_inline(raw: bytes, max_attachment_bytes: int) -> Outcome:
    """Same as one sandboxed parse, in this process (for tests and debugging)."""
    return _work(raw, max_attachment_bytes)


