#!/usr/bin/env bash
# CI hygiene (STYLE.md): clang-format is clean, and no banned function is used.
set -euo pipefail
cd "$(dirname "$0")/.."

files=$(git ls-files '*.c' '*.h' 2>/dev/null || find src tools test bench -name '*.[ch]')
rc=0
if ! clang-format --dry-run --Werror $files 2>/tmp/slicer-format.$$; then
    echo "style: clang-format reports differences (run 'make format'):" >&2
    head -40 /tmp/slicer-format.$$ >&2
    rc=1
fi
rm -f /tmp/slicer-format.$$

# curl's list: unbounded or stateful string functions. Word-bounded, calls only.
banned='\b(sprintf|vsprintf|strcpy|strcat|strtok|atoi|atol|atoll|gets)[[:space:]]*\('
if grep -nE "$banned" $files; then
    echo "style: banned function used (see STYLE.md; use snprintf, memcpy, strtol...)" >&2
    rc=1
fi
[[ $rc -eq 0 ]] && echo "style: clang-format clean, no banned functions"
exit $rc
