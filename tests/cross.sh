#!/bin/bash
# make test-cross: the cross-built node under qemu-user (docs/cross.md).
#   - the unit tests of node/ and common/ built for the target (CROSS_UNIT),
#     each run under qemu (-L /: the multiarch loader and libraries);
#   - tests/integration/cross_broadcast.sh: a broadcast from the native
#     controller through a native mosquitto to the node under qemu, played on
#     the cross-built paced card.
# Prints the same lines as tests/run.sh and ends "N passed, N failed".
#   CROSS_ARCH       arm64 (default) or armhf
#   CROSS_QEMU       qemu-aarch64 / qemu-arm (default from CROSS_ARCH)
#   LOAXA_CROSS_BIN  the cross build (default build/cross-$CROSS_ARCH)
#   LOAXA_BIN        the native build: controller, CLI, tools (default build/)
#   CROSS_UNIT       the unit tests to run (default: every test_* built there)
set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
CROSS_ARCH=${CROSS_ARCH:-arm64}
case "$CROSS_ARCH" in
arm64) : "${CROSS_QEMU:=qemu-aarch64}" ;;
armhf) : "${CROSS_QEMU:=qemu-arm}" ;;
*) echo "tests/cross.sh: CROSS_ARCH must be arm64 or armhf (got '$CROSS_ARCH')" >&2; exit 2 ;;
esac
: "${LOAXA_CROSS_BIN:=$ROOT/build/cross-$CROSS_ARCH}"
: "${LOAXA_BIN:=$ROOT/build}"
export CROSS_ARCH CROSS_QEMU LOAXA_CROSS_BIN LOAXA_BIN ROOT
LOGS=$ROOT/build/test-logs/cross-$CROSS_ARCH
mkdir -p "$LOGS"
command -v "$CROSS_QEMU" >/dev/null ||
	{ echo "tests/cross.sh: $CROSS_QEMU is missing: run scripts/setup.sh as root (qemu-user)" >&2; exit 2; }

passed=0 failed=0
failures=()
# run NAME CMD... : as tests/run.sh counts: ok / not ok lines, and a non-zero
# exit without a "not ok" is one failure.
run() {
	local name=$1 log=$LOGS/$1.log start rc ok nok
	shift
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
	printf '%-50s %4d ok %3d failed  %3ss\n' "$name" "$ok" "$nok" "$(( $(date +%s) - start ))"
	if [ "$nok" -gt 0 ]; then
		failures+=("$name")
		grep '^not ok - ' "$log" | sed 's/^/    /'
		echo "    --- last lines of $log:"
		tail -n 25 "$log" | sed 's/^/    | /'
	fi
}

echo "cross tests ($CROSS_ARCH under $CROSS_QEMU) at $(date -u '+%Y-%m-%d %H:%M:%S UTC'), load $(cut -d' ' -f1-3 /proc/loadavg)"
t0=$(date +%s)
units=${CROSS_UNIT:-}
if [ -z "$units" ]; then
	for t in "$LOAXA_CROSS_BIN"/tests/test_*; do
		[ -x "$t" ] && units="$units $(basename "$t")"
	done
fi
[ -n "$units" ] || { echo "tests/cross.sh: no unit tests in $LOAXA_CROSS_BIN/tests (make cross ARCH=$CROSS_ARCH)" >&2; exit 2; }
for u in $units; do
	if [ -x "$LOAXA_CROSS_BIN/tests/$u" ]; then
		run "unit/$u" "$CROSS_QEMU" -L / "$LOAXA_CROSS_BIN/tests/$u"
	else
		run "unit/$u" bash -c "echo 'not ok - $LOAXA_CROSS_BIN/tests/$u is built (make cross ARCH=$CROSS_ARCH)'; exit 1"
	fi
done
run integration/cross_broadcast bash tests/integration/cross_broadcast.sh

echo
[ ${#failures[@]} -gt 0 ] && echo "failed: ${failures[*]}"
echo "$passed passed, $failed failed ($(( $(date +%s) - t0 )) s)"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
