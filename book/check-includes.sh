#!/usr/bin/env bash
# Checks every {{#include ...}} and {{#rustdoc_include ...}} in the book's Markdown sources.
#
# Usage: book/check-includes.sh [SRC_DIR]    (SRC_DIR defaults to the src/ folder next to this script)
#
# For each directive it checks that the named file exists (relative to the Markdown file, as
# mdBook resolves it) and, when the directive names an anchor (`file.rs:name`), that the file has
# both an `ANCHOR: name` and an `ANCHOR_END: name` line. Includes by line number (`file.rs:10:20`)
# are reported too, because a line number silently points somewhere else once the file changes.
# mdBook itself only warns about a missing anchor and renders an empty block, so CI runs this
# before `mdbook build`.
#
# Prints one line per problem, naming the Markdown file, its line, the file and the anchor, and
# exits with status 1 if there was any problem, 0 otherwise.
set -euo pipefail

src_dir="${1:-$(dirname "$0")/src}"
if [[ ! -d "$src_dir" ]]; then
  echo "check-includes: no such directory: $src_dir" >&2
  exit 2
fi

problems=0
checked=0

report() {
  echo "$1" >&2
  problems=$((problems + 1))
}

# Whether $1 contains a line with the marker $2 (ANCHOR or ANCHOR_END) for the anchor name $3.
# mdBook's anchor names are word characters and dashes, so the name must end there.
has_marker() {
  grep -Eq "$2:[[:space:]]*$3([^A-Za-z0-9_-]|\$)" "$1"
}

while IFS= read -r -d '' markdown; do
  dir="$(dirname "$markdown")"
  line_number=0
  while IFS= read -r line || [[ -n "$line" ]]; do
    line_number=$((line_number + 1))
    # Every directive on the line; an escaped one (\{{#include ...}}) is text, not a directive.
    while IFS= read -r directive; do
      [[ -z "$directive" ]] && continue
      [[ "$directive" == \\* ]] && continue
      where="$markdown:$line_number: $directive"
      checked=$((checked + 1))

      # {{#include path}} or {{#include path:anchor}}, possibly {{#include path:10:20}}.
      target="${directive#*\{\{#*include }"
      target="${target%\}\}}"
      target="${target#"${target%%[![:space:]]*}"}"
      target="${target%"${target##*[![:space:]]}"}"
      path="${target%%:*}"
      selector=""
      if [[ "$target" == *:* ]]; then
        selector="${target#*:}"
      fi

      file="$dir/$path"
      if [[ ! -f "$file" ]]; then
        report "$where: file $path not found (looked for $file)"
        continue
      fi
      if [[ -z "$selector" ]]; then
        continue
      fi
      if [[ "$selector" =~ ^[0-9]*(:[0-9]*)?$ ]]; then
        report "$where: includes $path by line number; mark the lines with ANCHOR: name and ANCHOR_END: name and include $path:name"
        continue
      fi
      if [[ ! "$selector" =~ ^[A-Za-z0-9_-]+$ ]]; then
        report "$where: \"$selector\" is not an anchor name (letters, digits, _ and - only)"
        continue
      fi
      if ! has_marker "$file" ANCHOR "$selector"; then
        report "$where: anchor $selector not found: $path has no \"ANCHOR: $selector\" line"
      elif ! has_marker "$file" ANCHOR_END "$selector"; then
        report "$where: anchor $selector is not closed: $path has no \"ANCHOR_END: $selector\" line"
      fi
    done < <(grep -oE '\\?\{\{#(include|rustdoc_include)[[:space:]]+[^}]*\}\}' <<<"$line" || true)
  done <"$markdown"
done < <(find "$src_dir" -name '*.md' -print0 | sort -z)

if ((problems > 0)); then
  echo "check-includes: $problems problem(s) in $checked include(s) under $src_dir" >&2
  exit 1
fi
echo "check-includes: $checked include(s) under $src_dir, all found"
