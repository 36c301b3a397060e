#!/usr/bin/env bash
# Packaging check: build the wheel from the project's files, install it (dependencies from the
# package index) into a fresh venv in a temp dir, and run `confere --version` and `confere demo`
# from there, with the working directory outside the source tree so only the wheel is importable.
set -euo pipefail
src="$(cd "$(dirname "$0")/.." && pwd)"
python="${PYTHON:-python3}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# Build from a copy of the tracked (and new, not ignored) files: a stale build/ or egg-info in
# the working tree must not leak into, or hide a gap in, the wheel.
mkdir "$tmp/src"
if git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
  (cd "$src" && git ls-files -z --cached --others --exclude-standard \
     | xargs -0 -I{} sh -c 'test -e "{}" && echo "{}"' \
     | tar -cf - -T -) | tar -xf - -C "$tmp/src"
else
  tar -C "$src" --exclude=.venv --exclude=build --exclude='*.egg-info' -cf - . \
    | tar -xf - -C "$tmp/src"
fi

"$python" -m venv "$tmp/venv"
"$tmp/venv/bin/python" -m pip install -q --upgrade pip
"$tmp/venv/bin/python" -m pip wheel -q --no-deps -w "$tmp/dist" "$tmp/src"
wheel="$(ls "$tmp"/dist/confere-*.whl)"
echo "wheel-check: built $(basename "$wheel")"

# The package data the program reads at run time must be in the wheel.
"$tmp/venv/bin/python" - "$wheel" <<'EOF'
import fnmatch
import sys
import zipfile

names = zipfile.ZipFile(sys.argv[1]).namelist()
wanted = [
    "pipeline/config/vendors/*.toml", "pipeline/config/prices/*.toml",
    "pipeline/config/starter.toml", "pipeline/config/demo.toml", "pipeline/templates/*.j2",
    "storage/migrations/script.py.mako", "storage/migrations/versions/0001_*.py",
    "fixtures/mailbox/*.eml", "pipeline/issuers/*.py", "scheduler/daemon.py",
]
missing = [w for w in wanted if not fnmatch.filter(names, w)]
if missing:
    sys.exit(f"wheel-check: not in the wheel: {', '.join(missing)}")
leaked = [n for n in names if n.startswith(("tests/", "benchmarks/"))]
if leaked:
    sys.exit(f"wheel-check: test code in the wheel: {', '.join(leaked[:5])}")
print(f"wheel-check: {len(names)} files, package data present")
EOF

"$tmp/venv/bin/python" -m pip install -q "$wheel"

mkdir "$tmp/elsewhere"
cd "$tmp/elsewhere"
where="$("$tmp/venv/bin/python" -c 'import pipeline, os; print(os.path.dirname(pipeline.__file__))')"
case "$where" in
  "$tmp/venv/"*) ;;
  *) echo "wheel-check: pipeline imported from $where, not the installed wheel" >&2; exit 1 ;;
esac
"$tmp/venv/bin/confere" --version
if ! "$tmp/venv/bin/confere" demo --workdir "$tmp/demo" >"$tmp/demo.out" 2>&1 \
   || ! grep "resumo: " "$tmp/demo.out" || ! ls "$tmp"/demo/relatorio-*.html >/dev/null; then
  cat "$tmp/demo.out" >&2
  echo "wheel-check: confere demo failed from the installed wheel" >&2
  exit 1
fi
echo "wheel-check: ok"
