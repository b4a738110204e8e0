#!/bin/bash
# Runs every test and prints one closing line "N passed, N failed".
#
# Each test (a unit binary in $LOAXA_BIN/tests, or a script in
# tests/integration) prints "ok - ..." / "not ok - ..." lines; a test that
# exits non-zero without printing "not ok" counts as one failure, so a crash
# never passes silently. Output of each test goes to build/test-logs/.
#   LOAXA_BIN          binaries under test (the sanitizer build for make test)
#   LOAXA_RELEASE_BIN  release binaries (timing-sensitive checks)
#   TESTS="a b"        run only tests whose name contains a or b
set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
: "${LOAXA_BIN:=$ROOT/build}"
: "${LOAXA_RELEASE_BIN:=$ROOT/build}"
export LOAXA_BIN LOAXA_RELEASE_BIN ROOT
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
LOGS=$ROOT/build/test-logs
mkdir -p "$LOGS"

passed=0 failed=0
failures=()

selected() {
	[ -z "${TESTS:-}" ] && return 0
	local t
	for t in $TESTS; do
		case "$1" in *"$t"*) return 0 ;; esac
	done
	return 1
}

run_one() {
	local name=$1; shift
	local log=$LOGS/$name.log start rc ok nok
	selected "$name" || return 0
	mkdir -p "$(dirname "$log")"
	start=$(date +%s)
	"$@" >"$log" 2>&1
	rc=$?
	ok=$(grep -c '^ok - ' "$log")
	nok=$(grep -c '^not ok - ' "$log")
	if [ "$rc" -ne 0 ] && [ "$nok" -eq 0 ]; then
		echo "not ok - $name exited with status $rc (see $log)" >>"$log"
		nok=1
	fi
	passed=$((passed + ok))
	failed=$((failed + nok))
	printf '%-34s %4d ok %3d failed  %3ss\n' "$name" "$ok" "$nok" "$(( $(date +%s) - start ))"
	if [ "$nok" -gt 0 ]; then
		failures+=("$name")
		grep '^not ok - ' "$log" | sed 's/^/    /'
		echo "    --- last lines of $log:"
		tail -n 25 "$log" | sed 's/^/    | /'
	fi
}

for t in "$LOAXA_BIN"/tests/test_*; do
	[ -x "$t" ] || continue
	run_one "unit/$(basename "$t")" "$t"
done
for t in tests/integration/*.sh; do
	[ -f "$t" ] || continue
	run_one "integration/$(basename "$t" .sh)" bash "$t"
done

echo
[ ${#failures[@]} -gt 0 ] && echo "failed: ${failures[*]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
