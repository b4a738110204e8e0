#!/bin/bash
# make bench: runs every tests/bench/*.sh; each prints its own figures
# (medians of several runs). Benchmarks report, they never fail on a slow machine.
set -u
cd "$(dirname "$0")/../.."
: "${LOAXA_BIN:=$PWD/build}"
export LOAXA_BIN ROOT=$PWD
for b in tests/bench/*.sh; do
	case "$(basename "$b")" in
	run.sh | scale.sh | province.sh) continue ;; # make bench-scale (300 nodes), make bench-province (3,000)
	esac
	echo "== $(basename "$b" .sh)"
	bash "$b" || echo "   ($(basename "$b") could not measure: exit $?)"
done
