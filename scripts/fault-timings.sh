#!/usr/bin/env bash
# Measures the durations the non-negotiables promise — a lost worker noticed, load
# stopped after the master dies or a worker is cut off — by running the end-to-end
# fault tests, and prints each measured figure beside its target. The race suite
# asserts only outcomes (the load does stop, the worker is marked lost); how soon
# is a figure, measured here on a machine you know is quiet.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
./scripts/ensure-debian.sh iproute2 >/dev/null
out=$(mktemp)
trap 'rm -f "$out"' EXIT
status=0
$GO test -count=1 -v -run 'TestWorkerProcessKilledUsersMove|TestMasterKilledWorkersStopLoad|TestPartition' ./cmd/master >"$out" 2>&1 || status=$?
$GO test -count=1 -v -run 'TestNetworkCutWorkerLostStopsAndRejoins' ./pkg/controller >>"$out" 2>&1 || status=$?
grep -h 'fault timing:' "$out" | sed -E 's/^.*fault timing: /  /'
if [ "$status" -ne 0 ]; then
  grep -E '^(---|FAIL|ok)' "$out" || true
  echo "fault-timings: a fault test failed (exit $status)"
fi
exit "$status"
