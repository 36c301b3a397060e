"""Worker functions for the sandbox tests (importable by the worker processes)."""

import time

from pipeline.ingest.sandbox import Failed, parse_inline


def hang_on_marker(raw: bytes, limit: int):
    """Sleeps forever on b'HANG', eats memory on b'MEM', crashes on b'DIE', else parses."""
    if raw == b"HANG":
        time.sleep(3600)
    if raw == b"MEM":
        hog = bytearray(4 * 1024 * 1024 * 1024)
        return Failed(f"allocated {len(hog)}")
    if raw == b"DIE":
        import os
        os._exit(1)
    return parse_inline(raw, limit)


def slow_parse(raw: bytes, limit: int):
    """Parses, a quarter of a second at a time (a busy parser, to stop in the middle of)."""
    time.sleep(0.25)
    return parse_inline(raw, limit)
