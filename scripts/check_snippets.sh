#!/usr/bin/env bash
# Checks that every code block the documentation quotes from a source file is that file's text, exactly,
# so that the code readers copy is the code CTest compiles and runs. In Markdown, a quoted block follows
# a marker line naming the file and, optionally, a region of it:
#
#   <!-- snippet: examples/custom_model.cpp#train -->      (lines between "// [train]" and "// [train end]")
#   <!-- snippet: examples/readme_snippet.cpp -->          (the whole file)
#
#   scripts/check_snippets.sh [FILE.md ...]                (default: README.md docs/*.md)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
[ $# -gt 0 ] || set -- README.md docs/*.md
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

status=0
checked=0
for md in "$@"; do
  rm -f "$tmp"/*
  awk -v dir="$tmp" '
    /<!-- snippet: [^ ]+ -->/ {
      match($0, /snippet: [^ ]+/); spec = substr($0, RSTART + 9, RLENGTH - 9); want = 1; next
    }
    want && /^```/ { n++; out = dir "/block." n; printf "" > out; print spec > (dir "/spec." n);
                     print NR > (dir "/line." n); inside = 1; want = 0; next }
    inside && /^```/ { inside = 0; close(out); next }
    inside { print > out }
  ' "$md"
  for spec_file in "$tmp"/spec.*; do
    [ -e "$spec_file" ] || continue
    n=${spec_file##*.}
    spec=$(cat "$spec_file")
    file=${spec%%#*}
    region=""
    [[ "$spec" == *"#"* ]] && region=${spec#*#}
    where="$md:$(cat "$tmp/line.$n")"
    if [ ! -f "$file" ]; then
      echo "$where: quotes $file, which does not exist" >&2
      status=1
      continue
    fi
    if [ -z "$region" ]; then
      cp "$file" "$tmp/source.$n"
    else
      awk -v b="// [$region]" -v e="// [$region end]" '
        { t = $0; sub(/^[ \t]+/, "", t) }
        t == b { on = 1; found = 1; next }
        t == e { on = 0; next }
        on { print }
        END { if (!found) exit 3 }
      ' "$file" > "$tmp/source.$n" || { echo "$where: $file has no region '// [$region]'" >&2; status=1; continue; }
    fi
    if ! diff -u "$tmp/source.$n" "$tmp/block.$n" > "$tmp/diff.$n"; then
      echo "$where: the block differs from $spec (- source, + document):" >&2
      cat "$tmp/diff.$n" >&2
      status=1
    fi
    checked=$((checked + 1))
  done
done
echo "check_snippets: $checked quoted blocks checked"
exit $status
