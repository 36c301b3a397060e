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
REQUIRED = ("timestamp", "status", "request_id")
# What a pt-BR spreadsheet calls the columns (lower case, accents kept and dropped).
ALIASES = {"data": "timestamp", "data_hora": "timestamp", "data hora": "timestamp",
           "datahora": "timestamp", "data/hora": "timestamp", "horário": "timestamp",
           "horario": "timestamp", "id": "request_id", "id_requisicao": "request_id",
           "id_requisição": "request_id", "requisicao": "request_id", "requisição": "request_id",
           "contrato": "contract", "tipo": "type", "caminho": "path", "situacao": "status",
           "situação": "status", "codigo": "status", "código": "status"}
SEPARATORS = (",", ";", "\t", "|")
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
    delimiter: str = ","


def canonical(name: str) -> str:
    """A column's name as confere knows it (Portuguese names and any case accepted)."""
    key = name.strip().lower()
    return key if key in FIELDS else ALIASES.get(key, name.strip())


def _header(text: str) -> tuple[tuple[str, ...], str]:
    """The header's columns and separator: the separator that yields the required columns."""
    best: tuple[tuple[str, ...], str] | None = None
    for sep in SEPARATORS:
        cols = tuple(canonical(h) for h in next(csv.reader([text], delimiter=sep), []))
        if all(f in cols for f in REQUIRED):
            return cols, sep
        if best is None:
            best = (cols, sep)
    assert best is not None
    return best


def inspect_file(path: Path) -> Layout:
    """Read the head of a usage file: its kind and, for CSV, the header (checked)."""
    with path.open("rb") as f:
        first = f.readline()
        bom = 3 if first.startswith(b"\xef\xbb\xbf") else 0
        if path.suffix.lower() in (".jsonl", ".ndjson", ".json") or first[bom:].lstrip(
                ).startswith(b"{"):
            return Layout("jsonl", (), bom, False)
        try:
            text = first[bom:].decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError:
            raise ValueError(f"{path}: line 1: not UTF-8 text") from None
        header, sep = _header(text)
        quoted = b'"' in first
        while not quoted and (block := f.read(1 << 22)):
            quoted = b'"' in block
    missing = [f for f in REQUIRED if f not in header]
    if missing:
        others = [s for s in SEPARATORS if s != "," and s in text]
        guess = (f"the separator looks like {others[0]!r}, and " if len(header) == 1 and others
                 else "")
        raise ValueError(f"{path}: line 1: {guess}the header lacks {', '.join(missing)} "
                         f"(columns: {', '.join(FIELDS)}; in Portuguese: data, id, contrato, "
                         "tipo, caminho, situacao)")
    return Layout("csv", header, len(first), quoted, sep)


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
    header, csv_kind, sep = layout.header, layout.kind == "csv", layout.delimiter
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
                    yield number, dict(zip(header, line.rstrip("\r").split(sep),
                                           strict=False)), pos
                else:
                    yield number, _parse_json(line), pos


def _utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def quoted_rows(path: Path, layout: Layout | None = None
                ) -> Iterator[tuple[int, dict[str, str | None] | str, int]]:
    """Rows of a CSV with quoted fields, through the csv module (line numbers kept)."""
    layout = layout or inspect_file(path)
    with path.open("rb") as stream:
        text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
        text.readline()  # the header, already read by inspect_file
        reader = csv.DictReader(text, fieldnames=list(layout.header),
                                delimiter=layout.delimiter)
        try:
            for row in reader:
                yield reader.line_num + 1, row, stream.tell()  # + the header's line
        except UnicodeDecodeError:
            raise ValueError(f"{path}: line {reader.line_num + 2}: not UTF-8 text") from None


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
