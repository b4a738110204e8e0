#!/bin/bash
# tests/fuzz/run.sh - build and run every libFuzzer harness tests/fuzz/fuzz_*.c.
#
#   tests/fuzz/run.sh [NAME...]   only these harnesses (fuzz_envelope or envelope)
#   tests/fuzz/run.sh --build     build only
#   tests/fuzz/run.sh --smoke     what `make test` runs (tests/run.sh): build every
#                                 harness (in parallel), run each over its seeds and
#                                 FUZZ_SMOKE_RUNS inputs (default 10000, at most
#                                 FUZZ_SMOKE_SECONDS, default 5), print TAP lines
#   tests/fuzz/run.sh --seeds     regenerate the committed envelope seeds
#                                 (tests/fuzz/corpus/fuzz_envelope/, gen_corpus.c)
# Environment:
#   FUZZ_RUNS=N       inputs per harness (default 1000000), bounded by
#   FUZZ_MAX_SECONDS  (default 900) so a slow harness cannot run forever
#   FUZZ_SECONDS=S    run S seconds per harness instead (no run count)
#   FUZZ_ARGS="..."   extra libFuzzer options, e.g. "-jobs=4 -max_len=65536"
#   FUZZ_CC=clang     compiler (needs -fsanitize=fuzzer)
#   FUZZ_VERBOSE=1    keep the harnesses' own stderr (logging) instead of muting it
#
# Each harness is built with clang -fsanitize=fuzzer,address,undefined from
# itself and common/*.c into build/fuzz/<name>. A harness declares what else it
# needs in comment lines anywhere in its file:
#   // fuzz-sources: import/foo.c node/bar.c    (their directories go on -I)
#   // fuzz-pkgs: libmosquitto                  (pkg-config packages)
#   // fuzz-args: -max_len=4096                 (libFuzzer options of its own)
#   // fuzz-exclude: controller/main.c          (files a glob in sources matched)
# Seeds are read from tests/fuzz/corpus/<name>/ (never written); new inputs go
# to build/fuzz/corpus/<name>/, crashes to build/fuzz/artifacts/<name>-*,
# logs to build/fuzz/logs/<name>.log. tests/fuzz/<name>.dict is used when
# present; tests/fuzz/lsan.supp lists leaks of system libraries to ignore.
# Exit status is non-zero if a harness fails to build or crashes, or (in
# runs mode) ends at the time bound before FUZZ_RUNS executions ("SHORT").
set -u
cd "$(dirname "$0")/../.."
ROOT=$PWD
CC=${FUZZ_CC:-clang}
OUT=$ROOT/build/fuzz
# common/mqlink.c drives libmosquitto clients: every harness links it
# libxml-2.0: controller/capxml.c (CAP alerts), linked by every harness of controller/*.c
COMMON_PKGS="libsodium jansson libconfig libmosquitto libxml-2.0"
CFLAGS="-g -O1 -std=c11 -D_DEFAULT_SOURCE -D_GNU_SOURCE -DLOAXA_VERSION=\"fuzz\" -Wall
	-fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined
	-fno-sanitize-recover=undefined -Icommon -Itests/fuzz -I$ROOT/build/fuzz/gen"
mkdir -p "$OUT"/corpus "$OUT"/artifacts "$OUT"/logs
# the CAP 1.2 schema compiled into controller/capxml.c (as the Makefile does)
scripts/cap-xsd.sh etc/cap/CAP-v1.2.xsd "$OUT/gen/cap_xsd.inc" || exit 1
# Known leaks inside system libraries (see the file for each reason).
export LSAN_OPTIONS="suppressions=$ROOT/tests/fuzz/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"

# Words after "fuzz-KEY:" on comment lines of FILE (// or block-comment style).
declared() {
	sed -n -E "s@^[[:space:]]*(//|/?\*)[[:space:]]*fuzz-$1:(.*)@\2@p" "$2" | tr '\n' ' '
}

# harness_sources SRC : the sources a harness declares, less its excludes.
harness_sources() {
	local s out=""
	# shellcheck disable=SC2086 # globs (controller/*.c) expand here
	for s in $(declared sources "$1"); do
		case " $(declared exclude "$1") " in *" $s "*) continue ;; esac
		out="$out $s"
	done
	echo "$out"
}

# harness_incs SRC : -I for the directory of each of its sources.
harness_incs() {
	local s out=""
	for s in $(harness_sources "$1"); do
		case " $out " in *" -I$(dirname "$s") "*) ;; *) out="$out -I$(dirname "$s")" ;; esac
	done
	echo "$out"
}

# stale FILE : FILE is missing, or a source of any harness (or this script)
# is newer.
stale() {
	[ ! -e "$1" ] || [ "$0" -nt "$1" ] ||
		[ -n "$(find common controller import node tests/fuzz -name '*.[ch]' -newer "$1" \
			-print -quit)" ]
}

# build_objects HARNESS... : compile every source the harnesses link (and
# common/*.c) once, into $OUT/obj/, on every core: three harnesses link the
# whole controller, and compiling it once instead of three times is most of
# what the smoke run costs on a clean clone. A source is compiled with the
# include directories and packages of the first harness that declares it
# (every harness that declares controller/*.c declares the same).
build_objects() {
	local h s o incs pkgs list=$OUT/objects.todo
	declare -A seen=()
	: >"$list"
	for h in "$@"; do
		incs=$(harness_incs "$h")
		pkgs="$COMMON_PKGS $(declared pkgs "$h")"
		for s in common/*.c $(harness_sources "$h"); do
			[ -f "$s" ] || { echo "$(basename "$h" .c): declared source $s does not exist" >&2; return 1; }
			[ -n "${seen[$s]:-}" ] && continue
			seen[$s]=1
			o=$OUT/obj/${s%.c}.o
			stale "$o" || continue
			# shellcheck disable=SC2086
			printf '%s\t%s\t%s\n' "$s" "$o" "$incs $(pkg-config --cflags $pkgs)" >>"$list"
		done
	done
	local running=0 failed=0 pids=()
	while IFS=$'\t' read -r s o incs; do
		mkdir -p "$(dirname "$o")"
		# shellcheck disable=SC2086
		{ rm -f "$o"; $CC $CFLAGS $incs -c "$s" -o "$o" >"$o.log" 2>&1 || { cat "$o.log" >&2; exit 1; }; } &
		pids+=($!)
		running=$((running + 1))
		if [ $running -ge "$(nproc)" ]; then
			wait -n || failed=1
			running=$((running - 1))
		fi
	done <"$list"
	while [ $running -gt 0 ]; do
		wait -n || failed=1
		running=$((running - 1))
	done
	return $failed
}

build_one() {
	local src=$1 name srcs pkgs incs s objs=""
	name=$(basename "$src" .c)
	srcs=$(harness_sources "$src")
	pkgs="$COMMON_PKGS $(declared pkgs "$src")"
	incs=$(harness_incs "$src")
	# up to date: no source of any harness (nor this script) is newer
	stale "$OUT/$name" || return 0
	rm -f "$OUT/$name" # a failed build must not leave an old harness to run
	for s in common/*.c $srcs; do
		objs="$objs $OUT/obj/${s%.c}.o"
	done
	# shellcheck disable=SC2086,SC2046
	$CC $CFLAGS $incs $(pkg-config --cflags $pkgs) "$src" $objs \
		$(pkg-config --libs $pkgs) -lm -o "$OUT/$name" >"$OUT/logs/$name.build.log" 2>&1
	local rc=$?
	if [ $rc -ne 0 ]; then
		echo "$name: build failed:" >&2
		sed 's/^/    /' "$OUT/logs/$name.build.log" >&2
	fi
	return $rc
}

if [ "${1:-}" = "--seeds" ]; then
	# shellcheck disable=SC2086,SC2046
	cc -O1 -g -std=c11 -D_DEFAULT_SOURCE -D_GNU_SOURCE -Icommon -Itests/fuzz \
		$(pkg-config --cflags $COMMON_PKGS) tests/fuzz/gen_corpus.c common/*.c \
		$(pkg-config --libs $COMMON_PKGS) -lm -o "$OUT/gen_corpus" || exit 1
	mkdir -p tests/fuzz/corpus/fuzz_envelope
	"$OUT/gen_corpus" tests/fuzz/corpus/fuzz_envelope || exit 1
	echo "seeds written to tests/fuzz/corpus/fuzz_envelope/"
	exit 0
fi
build_only=0 smoke=0
if [ "${1:-}" = "--build" ]; then
	build_only=1
	shift
elif [ "${1:-}" = "--smoke" ]; then
	smoke=1
	shift
fi

harnesses=()
for src in tests/fuzz/fuzz_*.c; do
	[ -f "$src" ] || continue
	name=$(basename "$src" .c)
	if [ $# -gt 0 ]; then
		want=0
		for w in "$@"; do
			[ "$w" = "$name" ] || [ "fuzz_$w" = "$name" ] && want=1
		done
		[ $want -eq 1 ] || continue
	fi
	harnesses+=("$src")
done
[ ${#harnesses[@]} -gt 0 ] || { echo "no harness matches: $*" >&2; exit 1; }

# --smoke: every harness over its committed seeds and a few thousand
# mutations (a fixed -seed), so a crash or a leak on the seeds, or a harness
# that no longer builds, fails `make test` instead of waiting for `make fuzz`.
if [ $smoke -eq 1 ]; then
	command -v "$CC" >/dev/null || { echo "not ok - fuzz: $CC is not installed (scripts/setup.sh)"; exit 1; }
	declare -A bpid
	running=0
	build_objects "${harnesses[@]}" 2>"$OUT/logs/objects.build.log" ||
		{ echo "not ok - fuzz: the sources do not build for the harnesses:"; sed 's/^/#   /' "$OUT/logs/objects.build.log" | head -n 30; exit 1; }
	for src in "${harnesses[@]}"; do
		name=$(basename "$src" .c)
		build_one "$src" 2>/dev/null &
		bpid[$name]=$!
		running=$((running + 1))
		# as many compilers as cores: the two controller harnesses take most
		if [ $running -ge "$(nproc)" ]; then
			wait -n
			running=$((running - 1))
		fi
	done
	failed=0
	for src in "${harnesses[@]}"; do
		name=$(basename "$src" .c)
		# the harness exists only when its build succeeded (build_one removes
		# the old one first); wait's status is lost for a job wait -n reaped
		wait "${bpid[$name]}" 2>/dev/null
		if [ ! -x "$OUT/$name" ]; then
			echo "not ok - $name: build failed (log $OUT/logs/$name.build.log)"
			sed 's/^/#   /' "$OUT/logs/$name.build.log" | head -n 20
			failed=$((failed + 1))
			continue
		fi
		seeds=()
		[ -d "tests/fuzz/corpus/$name" ] && seeds=("tests/fuzz/corpus/$name")
		nseeds=$(find "tests/fuzz/corpus/$name" -type f 2>/dev/null | wc -l)
		dict=()
		[ -f "tests/fuzz/$name.dict" ] && dict=("-dict=tests/fuzz/$name.dict")
		# new inputs go to a scratch directory, never into the seeds
		scratch=$(mktemp -d "$OUT/corpus/$name-smoke.XXXXXX")
		log=$OUT/logs/$name.smoke.log
		start=$(date +%s)
		# shellcheck disable=SC2046
		"$OUT/$name" -runs="${FUZZ_SMOKE_RUNS:-10000}" \
			-max_total_time="${FUZZ_SMOKE_SECONDS:-5}" -seed=1 -close_fd_mask=2 \
			-timeout=10 -rss_limit_mb=2048 -print_final_stats=1 $(declared args "$src") \
			-artifact_prefix="$OUT/artifacts/$name-" "${dict[@]}" \
			"$scratch" "${seeds[@]}" >"$log" 2>&1
		rc=$?
		rm -rf "$scratch"
		execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
		if [ $rc -eq 0 ]; then
			echo "ok - $name: ${execs:-?} inputs ($nseeds seeds, then mutations) in $(( $(date +%s) - start )) s, no crash, no leak"
		else
			failed=$((failed + 1))
			echo "not ok - $name: exit $rc after ${execs:-?} inputs (log $log, artifacts $OUT/artifacts/)"
			grep -E 'ERROR|SUMMARY|Test unit written|==[0-9]+==' "$log" | head -n 20 | sed 's/^/#   /'
		fi
	done
	[ $failed -eq 0 ]
	exit $?
fi

if [ -n "${FUZZ_SECONDS:-}" ] && [ -z "${FUZZ_RUNS:-}" ]; then
	limit="-max_total_time=$FUZZ_SECONDS"
	what="$FUZZ_SECONDS s"
	runs_mode=0
else
	runs_mode=1
	limit="-runs=${FUZZ_RUNS:-1000000} -max_total_time=${FUZZ_MAX_SECONDS:-900}"
	what="${FUZZ_RUNS:-1000000} runs (at most ${FUZZ_MAX_SECONDS:-900} s)"
fi
mute="-close_fd_mask=2"
[ "${FUZZ_VERBOSE:-0}" = 1 ] && mute=""

failed=0 short=0
build_objects "${harnesses[@]}" || { echo "the sources do not build for the harnesses" >&2; exit 1; }
for src in "${harnesses[@]}"; do
	name=$(basename "$src" .c)
	if ! build_one "$src"; then
		failed=$((failed + 1))
		continue
	fi
	[ $build_only -eq 1 ] && { echo "$name: built $OUT/$name"; continue; }
	mkdir -p "$OUT/corpus/$name"
	seeds=()
	[ -d "tests/fuzz/corpus/$name" ] && seeds=("tests/fuzz/corpus/$name")
	dict=()
	[ -f "tests/fuzz/$name.dict" ] && dict=("-dict=tests/fuzz/$name.dict")
	log=$OUT/logs/$name.log
	echo "$name: fuzzing for $what ..."
	# shellcheck disable=SC2086
	"$OUT/$name" $limit $mute -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		$(declared args "$src") \
		-artifact_prefix="$OUT/artifacts/$name-" "${dict[@]}" ${FUZZ_ARGS:-} \
		"$OUT/corpus/$name" "${seeds[@]}" >"$log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	secs=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -n 1)
	cov=$(grep -E '^#[0-9]+' "$log" | tail -n 1 | sed -n 's/.*\(cov: [0-9]*\).*\(corp: [^ ]*\).*/\1 \2/p')
	if [ $rc -eq 0 ] && [ $runs_mode -eq 1 ] && [ "${execs:-0}" -lt "${FUZZ_RUNS:-1000000}" ]; then
		# the time bound ended it: not the executions asked for
		short=$((short + 1))
		echo "$name: SHORT, ${execs:-?} of ${FUZZ_RUNS:-1000000} execs in ${secs:-?} s" \
			"(the ${FUZZ_MAX_SECONDS:-900} s bound; raise FUZZ_MAX_SECONDS), $cov"
	elif [ $rc -eq 0 ]; then
		echo "$name: ok, ${execs:-?} execs in ${secs:-?} s, $cov"
	else
		failed=$((failed + 1))
		echo "$name: FAILED (exit $rc) after ${execs:-?} execs; artifacts in $OUT/artifacts/, log $log"
		grep -E 'ERROR|SUMMARY|Test unit written|==[0-9]+==' "$log" | head -n 20 | sed 's/^/    /'
	fi
done
[ $failed -eq 0 ] || { echo "$failed harness(es) failed"; exit 1; }
[ $short -eq 0 ] || { echo "$short harness(es) stopped short of ${FUZZ_RUNS:-1000000} executions"; exit 1; }
exit 0
