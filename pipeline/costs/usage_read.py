"""Reading usage files (CSV or JSON Lines) as rows of strings, in whole or in byte spans."""

from __future__ import annotations

import csv
import io
import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FIELDS = ("timestamp", "contract", "contratante", "path", "type", "id_sistema", "id_servico",
          "status", "request_id")
Row = tuple[int, dict[str, str | None] | str, int]  # line, row or why unreadable, bytes done


def _strings(obj: dict[str, Any]) -> dict[str, str | None]:
    return {k: None if v is None else str(v) for k, v in obj.items()}


@dataclass(frozen=True)
class Layout:
    """How a usage file is laid out: JSON Lines or CSV (its header), where the rows start."""

    kind: str  # csv | jsonl
    header: tuple[str, ...]
    body: int  # byte offset of the first row
    quoted: bool  # a CSV with quotes needs the csv module (fields may hold commas, newlines)


def inspect_file(path: Path) -> Layout:
    """Read the head of a usage file: its kind and, for CSV, the header (checked)."""
    with path.open("rb") as f:
        first = f.readline()
        bom = 3 if first.startswith(b"\xef\xbb\xbf") else 0
        if path.suffix.lower() in (".jsonl", ".ndjson", ".json") or first[bom:].lstrip(
                ).startswith(b"{"):
            return Layout("jsonl", (), bom, False)
        try:
            header = tuple(next(csv.reader([first[bom:].decode("utf-8")]), []))
        except UnicodeDecodeError:
            raise ValueError(f"{path}: line 1: not UTF-8 text") from None
        quoted = b'"' in first
        while not quoted and (block := f.read(1 << 22)):
            quoted = b'"' in block
    header = tuple(h.strip() for h in header)
    missing = [f for f in ("timestamp", "status", "request_id") if f not in header]
    if missing:
        raise ValueError(f"{path}: line 1: the header lacks {', '.join(missing)} "
                         f"(columns: {', '.join(FIELDS)})")
    return Layout("csv", header, len(first), quoted)


def _parse_json(line: str) -> dict[str, str | None] | str:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        return f"not JSON: {exc.msg}"
    return _strings(obj) if isinstance(obj, dict) else "not a JSON object"


def span_rows(path: Path, layout: Layout, start: int, end: int, first_line: int
              ) -> Iterator[tuple[int, dict[str, str | None] | str, int]]:
    """(line number, row or why unreadable, bytes done) for rows in [start, end) of the file.

    For JSON Lines and CSV without quotes, where a row is one line and a comma always
    separates fields: a plain split, much cheaper than the csv module.
    """
    header, csv_kind = layout.header, layout.kind == "csv"
    number = first_line - 1
    with path.open("rb") as f:
        f.seek(start)
        pos, rest = start, b""
        while pos < end:
            block = f.read(min(1 << 22, end - pos))
            if not block:
                break
            pos += len(block)
            block = rest + block
            cut = block.rfind(b"\n") + 1 if pos < end else len(block)
            block, rest = block[:cut], block[cut:]
            try:
                lines = block.decode("utf-8").split("\n")
            except UnicodeDecodeError:
                lines = [ln.decode("utf-8", "replace") if _utf8(ln) else "\x00"
                         for ln in block.split(b"\n")]
            if lines and lines[-1] == "":
                lines.pop()
            for line in lines:
                number += 1
                if line == "\x00":
                    yield number, "not UTF-8 text", pos
                elif not line.strip():
                    continue
                elif csv_kind:
                    yield number, dict(zip(header, line.rstrip("\r").split(","),
                                           strict=False)), pos
                else:
                    yield number, _parse_json(line), pos


def _utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def quoted_rows(path: Path) -> Iterator[tuple[int, dict[str, str | None] | str, int]]:
    """Rows of a CSV with quoted fields, through the csv module (line numbers kept)."""
    with path.open("rb") as stream:
        text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
        reader = csv.DictReader(text)
        try:
            for row in reader:
                yield reader.line_num, row, stream.tell()
        except UnicodeDecodeError:
            raise ValueError(f"{path}: line {reader.line_num + 1}: not UTF-8 text") from None


def split_spans(path: Path, layout: Layout, parts: int) -> list[tuple[int, int, int]]:
    """(start, end, first line number) of `parts` pieces of the body, cut at line ends."""
    size = path.stat().st_size
    cuts = [layout.body]
    with path.open("rb") as f:
        for i in range(1, parts):
            f.seek(max(cuts[-1], layout.body + (size - layout.body) * i // parts))
            f.readline()
            if f.tell() < size:
                cuts.append(f.tell())
        cuts.append(size)
        spans, line = [], 1 if layout.kind == "jsonl" else 2
        for a, b in itertools.pairwise(cuts):
            spans.append((a, b, line))
            f.seek(a)
            line += f.read(b - a).count(b"\n")
    return spans
