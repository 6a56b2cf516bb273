#!/usr/bin/env bash
# Every C++ file of the repository is laid out as .clang-format says (clang-format 14).
# Usage: format.sh SOURCE_ROOT. Fix with: clang-format -i <files it lists>
set -uo pipefail
cd "$1"
bad=()
while IFS= read -r f; do
  clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done < <(git ls-files '*.cc' '*.h' 2>/dev/null | grep -v '^subprojects/' ||
         find include lib server examples tests bench -name '*.cc' -o -name '*.h')
if ((${#bad[@]})); then
  echo "not formatted (clang-format -i):"; printf '  %s\n' "${bad[@]}"; exit 1
fi
echo "format: every file matches .clang-format"
