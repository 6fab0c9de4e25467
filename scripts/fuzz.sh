#!/usr/bin/env bash
# Runs every native fuzz target of the module (func FuzzX in a *_test.go file) for
# FUZZTIME each (default 3s), one after the other. A crasher fails the script; go
# test writes it under the package's testdata/fuzz/FuzzX/, where it stays as a
# regression input once the bug is fixed. Finding no target fails it too: a fuzz
# run that fuzzed nothing is not a pass.
#   FUZZTIME=3s ./scripts/fuzz.sh        # make test (all targets, about 1-2 minutes)
#   FUZZTIME=2m ./scripts/fuzz.sh        # make fuzz
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-3s}
go=${GO:-go}
n=0
while IFS=: read -r file line; do
  name=$(sed -n "${line}p" "$file" | sed -E 's/^func (Fuzz[A-Za-z0-9_]*)\(.*/\1/')
  pkg=./$(dirname "$file")
  echo "fuzz $pkg $name for $fuzztime"
  for try in 1 2; do
    if $go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "$pkg" >/tmp/stampede-fuzz.$$ 2>&1; then
      break
    fi
    # Go's fuzzing engine sometimes fails a target with "context deadline exceeded"
    # when its workers are slow to stop at the end of -fuzztime (a loaded machine):
    # no input failed, so the target is run once more. A crasher fails at once.
    if [[ $try == 1 ]] && grep -q 'context deadline exceeded' /tmp/stampede-fuzz.$$ &&
      ! grep -q 'Failing input written to' /tmp/stampede-fuzz.$$; then
      echo "fuzz $pkg $name: the engine timed out stopping (no failing input); once more"
      continue
    fi
    cat /tmp/stampede-fuzz.$$; rm -f /tmp/stampede-fuzz.$$
    echo "fuzz: $pkg $name failed; the input is under $pkg/testdata/fuzz/$name/" >&2
    exit 1
  done
  n=$((n + 1))
done < <(git ls-files -z '*_test.go' | xargs -0r grep -HnE '^func Fuzz[A-Za-z0-9_]*\([A-Za-z_][A-Za-z0-9_]* \*testing\.F\)' | cut -d: -f1,2 | sort)
rm -f /tmp/stampede-fuzz.$$
if [[ $n == 0 ]]; then
  echo "fuzz: no fuzz target found (func FuzzX(f *testing.F) in a tracked *_test.go file)" >&2
  exit 1
fi
echo "fuzz: $n targets passed ($fuzztime each)"
