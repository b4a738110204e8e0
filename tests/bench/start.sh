#!/bin/bash
# Scheduled start error through the paced test card (release build): 20
# plan items (BENCH_STARTS) on a real node, broker and controller; for each,
# first sample at the "speaker" minus its scheduled time. Prints p50, p99
# and the worst, in ms. Runs tests/integration/start_accuracy.sh in its
# measuring mode; never fails on a slow machine.
set -u
ROOT=${ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
: "${LOAXA_BIN:=$ROOT/build}"
N=${BENCH_STARTS:-20}
out=$(LOAXA_BIN=$LOAXA_BIN START_N=$N START_GAP_MS=1000 START_BOUND_MS=1000000 \
	LIB_QUIET=0 bash "$ROOT/tests/integration/start_accuracy.sh" 2>&1)
errs=$(sed -n 's/^# start errors (ms): //p' <<<"$out")
if [ -z "$errs" ]; then
	echo "   start accuracy: no figures (the run failed):"
	grep '^not ok' <<<"$out" | sed 's/^/   /'
	exit 0
fi
tr ' ' '\n' <<<"$errs" | awk 'NF { v[n++] = $1; a = $1 < 0 ? -$1 : $1; if (a > w) w = a }
	END {
		# sort by absolute error for the percentiles of |error|
		for (i = 0; i < n; i++) { x[i] = v[i] < 0 ? -v[i] : v[i] }
		for (i = 1; i < n; i++) for (j = i; j > 0 && x[j-1] > x[j]; j--) { t = x[j]; x[j] = x[j-1]; x[j-1] = t }
		p50 = x[int((n - 1) * 0.50 + 0.5)]; p99 = x[int((n - 1) * 0.99 + 0.5)]
		s = 0; for (i = 0; i < n; i++) s += v[i]
		printf "   scheduled start error over %d starts (paced card, |first sample - at|): p50 %.3f ms, p99 %.3f ms, worst %.3f ms, mean signed %+.3f ms\n", n, p50, p99, w, s / n
	}'
