#!/bin/bash
# tests/at.sh INSTANT COMMAND [ARGS...] - run COMMAND, and every process it
# starts, with the wall clock set to INSTANT and running on from there.
#
#   tests/at.sh '2026-12-07 17:03:00 +07' make test
#   tests/at.sh '2028-02-29 23:59:50 +07' bash tests/integration/schedule.sh
#
# libfaketime (Debian's faketime) moves CLOCK_REALTIME, time() and
# gettimeofday() of every process of the run by one shared offset, so the
# broker, the controller, the nodes, openssl and the test script agree on
# "now". The monotonic clock stays real (--exclude-monotonic): loaxa's
# timers, timeouts and pacing are stopwatches, and the kernel arms timerfds
# on the real monotonic clock.
#
# INSTANT is anything `date -d` reads; give the zone (+07 for Vietnam).
set -eu
if [ $# -lt 2 ]; then
	echo "usage: tests/at.sh INSTANT COMMAND [ARGS...]" >&2
	exit 2
fi
instant=$1
shift
if ! command -v faketime >/dev/null; then
	echo "tests/at.sh: faketime is missing (scripts/setup.sh installs it)" >&2
	exit 2
fi
if ! stamp=$(date -u -d "$instant" '+%Y-%m-%d %H:%M:%S'); then
	echo "tests/at.sh: cannot read the instant \"$instant\"" >&2
	exit 2
fi
# A sanitizer runtime wants to come first among the libraries; libfaketime,
# preloaded, comes before it, which is harmless here.
case "${ASAN_OPTIONS:-}" in
*verify_asan_link_order*) ;;
*) export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" ;;
esac
# Already under a fake clock (a whole `make test` run by tests/at.sh, whose
# matrix calls tests/at.sh again): the faketime wrapper would read the outer
# fake "now" and compute its offset from it, so leave the outer clock first.
case "${LD_PRELOAD:-}" in
*faketime*) unset LD_PRELOAD FAKETIME FAKETIME_SHARED FAKETIME_DONT_FAKE_MONOTONIC ;;
esac
exec env TZ=UTC faketime --exclude-monotonic "$stamp" env -u TZ ${TZ:+TZ="$TZ"} "$@"
