#!/bin/bash
# The node's clock on a drifting crystal (release build): runs
# tests/integration/clock_drift.sh (the node 7 s ahead and 50 ppm fast under
# libfaketime, the paced card on the real clock) and prints its figures:
# start error over 20 starts with the link up, the drift the node measured,
# and after 6 simulated hours without a link the real error against the
# bound the node reported. Never fails on a slow machine.
set -u
ROOT=${ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
: "${LOAXA_BIN:=$ROOT/build}"
out=$(LOAXA_BIN=$LOAXA_BIN LOAXA_RELEASE_BIN=$LOAXA_BIN CLOCK_P99_MS=1000000 LIB_QUIET=0 \
	bash "$ROOT/tests/integration/clock_drift.sh" 2>&1)
figs=$(sed -n 's/^# clock: /   /p' <<<"$out")
if [ -z "$figs" ]; then
	echo "   clock drift: no figures (the run failed):"
	grep '^not ok' <<<"$out" | sed 's/^/   /'
	exit 0
fi
echo "$figs"
grep '^not ok' <<<"$out" | sed 's/^/   (check failed) /'
exit 0
