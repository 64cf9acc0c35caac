#!/usr/bin/env bash
# Loads the same automerge files with automerge 0.12.0 as published and
# with the vendored, patched copy, and fails if any result differs (an
# error, the heads, the change count, the content as JSON, the saved
# bytes). Usage: vendor/automerge-diffload/run.sh FILE...
# With no FILE: upstream's own test fixtures and fuzz crashers.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
target="${CARGO_TARGET_DIR:-$here/target}"
if [ "$#" -eq 0 ]; then
  set -- "$here"/../automerge/tests/fixtures/* "$here"/../automerge/tests/fuzz-crashers/*
fi
for side in upstream patched; do
  cargo build --quiet --release --manifest-path "$here/$side/Cargo.toml" --target-dir "$target"
done
out="$(mktemp -d)"
"$target/release/automerge-diffload-upstream" "$@" > "$out/upstream.txt"
"$target/release/automerge-diffload-patched" "$@" > "$out/patched.txt"
if diff "$out/upstream.txt" "$out/patched.txt"; then
  echo "$(wc -l < "$out/upstream.txt") files: the same with the patched automerge" \
    "($(grep -c ' ok ' "$out/upstream.txt" || true) loaded, $(grep -c ' err ' "$out/upstream.txt" || true) refused)"
else
  echo "the patched automerge differs from upstream (above: < upstream, > patched)" >&2
  exit 1
fi
