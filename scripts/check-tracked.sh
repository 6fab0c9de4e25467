#!/usr/bin/env bash
# Fails when a file tracked by git (as staged in the index) is a compiled
# executable or object (ELF, Mach-O, PE, WebAssembly), or is larger than 1 MiB
# outside a testdata/ directory. Build outputs belong in .gitignore, not in the
# repository. Run by `make lint`.
set -euo pipefail
cd "$(dirname "$0")/.."
limit=$((1 << 20))
bad=0
# One line per tracked blob: object name, size, path (submodules have no blob here).
while read -r hash size path; do
  magic=$({ git cat-file blob "$hash" || true; } | head -c 4 | od -An -tx1 | tr -d ' \n')
  case $magic in
    7f454c46) kind="an ELF binary" ;;
    feedface | feedfacf | cefaedfe | cffaedfe | cafebabe) kind="a Mach-O binary" ;;
    4d5a*) kind="a Windows (PE) binary" ;;
    0061736d) kind="a WebAssembly module" ;;
    *) kind="" ;;
  esac
  if [[ -n $kind ]]; then
    echo "check-tracked: $path is $kind: git rm it and ignore it (.gitignore)" >&2
    bad=1
  fi
  if ((size > limit)) && [[ ! $path =~ (^|/)testdata/ ]]; then
    echo "check-tracked: $path is $size bytes, over 1 MiB outside testdata/" >&2
    bad=1
  fi
done < <(git -c core.quotePath=false ls-files --format='%(objectmode) %(objectname) %(path)' |
  grep -v '^160000 ' | cut -d' ' -f2- |
  git cat-file --batch-check='%(objectname) %(objectsize) %(rest)')
if [[ $bad == 0 ]]; then
  echo "check-tracked: no tracked binary executable, nothing over 1 MiB outside testdata/"
fi
exit $bad
