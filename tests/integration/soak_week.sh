#!/bin/bash
# A simulated week (issue 17, fault tests): a real mosquitto, a controller
# and three nodes live through DAYS days of a commune's timetable - the
# 05:30 morning and 17:00 evening programs every day, a weekly notice on
# Tuesdays at 09:00 (thon-2, repeated twice) - with an emergency (a real one
# and a drill on alternate days) and a live session every day at 10:30.
# Then:
#   - every planned play of the days simulated was played on every node it
#     targets (`loaxa schedule list`: played, none missed or failed), and the
#     monthly report counts exactly what the schedule says (scheduled =
#     played = the plays of the days simulated, 0 failed, one emergency or
#     drill a day);
#   - RSS (VmRSS) and open descriptors of every daemon are flat: sampled at
#     the end of each simulated day, the end is compared with the end of day
#     1 (the warm-up: every kind of work has been done once, SQLite's page
#     cache and the allocators' arenas have grown to their working size).
#     Bounds: RSS grows by at most SOAK_RSS_KB (default 1024 kB) plus 5 %
#     (a week on the release build: +16 to +116 kB), descriptors by at most
#     SOAK_FD_SLACK (default 1; each count is the lowest of three 0.2 s
#     apart, so a CLI connection being closed is not counted). The figures
#     of every daemon are printed at the start (after warm-up), at the end
#     of each day and at the end.
#
# make test runs 2 days (about a minute); make soak the week (DAYS=7, about
# 3 minutes) and prints the figures.
#
# Time is driven by the test, never by a switch in the programs: every
# process (broker, controller, nodes, the CLI, the script's date) runs under
# libfaketime with FAKETIME_TIMESTAMP_FILE, a file holding one offset to the
# real clock ("+N" seconds) that the test rewrites (rename: atomic) to step
# the wall clock to a few seconds before the next thing that happens.
# FAKETIME_NO_CACHE=1 makes every process read it at each wall-clock read,
# so they all step at the same instant (with the default 10 s cache they
# would disagree by hours for up to 10 s). The monotonic clock stays real
# (FAKETIME_DONT_FAKE_MONOTONIC=1, as in tests/at.sh): loaxa's timers,
# timeouts and pacing are stopwatches. The daemons read "now" only through
# now_ms()/now_us() (common/wallclock.c, CLOCK_REALTIME): the test checks
# that a step moves both the controller's and the nodes' "now".
#
# Which binaries: the release build (LOAXA_RELEASE_BIN), even in make test,
# whose other tests use the ASan build. RSS under ASan is the sanitizer's:
# freed memory sits in its quarantine (up to 256 MB) and its allocator
# never returns memory in the way glibc's does, so RSS grows for hours
# whatever the program does; the figure that matters for a board with 512 MB
# is the one of the binaries that ship. Leaks of unreachable memory are
# LeakSanitizer's job in every other test; what this one catches is memory
# (and descriptors) still reachable but growing with time and work.
#
#   DAYS=N            days to simulate (1-7; default 2)
#   SOAK_RSS_KB=N     RSS growth allowed after warm-up, kB (plus 5 %)
#   SOAK_FD_SLACK=N   descriptors allowed above the warm-up count
if [ -n "${LOAXA_RELEASE_BIN:-}" ]; then
	LOAXA_BIN=$LOAXA_RELEASE_BIN
fi
source "$(dirname "$0")/../lib.sh"
need "$LOAXA" "$CONTROLLER" "$NODE"

DAYS=${DAYS:-2}
SOAK_RSS_KB=${SOAK_RSS_KB:-1024}
SOAK_FD_SLACK=${SOAK_FD_SLACK:-1}
TZ_SITE=Asia/Ho_Chi_Minh
if ! [[ $DAYS =~ ^[1-7]$ ]]; then
	not_ok "DAYS is 1 to 7 (got $DAYS)"
	exit 1
fi

# ---------------------------------------------------------------- the clock

FAKELIB=
for f in /usr/lib/*/faketime/libfaketime.so.1 /usr/lib/faketime/libfaketime.so.1; do
	[ -f "$f" ] && FAKELIB=$f && break
done
if [ -z "$FAKELIB" ]; then
	not_ok "libfaketime is installed (scripts/setup.sh installs faketime)"
	exit 1
fi
FAKERC=$T/faketime.rc
real_s() { env -u LD_PRELOAD date +%s; }
# step_to INSTANT : move every process's wall clock to INSTANT (date -d).
# Only forward, and never in the middle of a wait_for (its deadline is on
# the same clock).
step_to() {
	local target off
	target=$(date -d "$1" +%s) || return 1
	if [ -s "$FAKERC" ] && [ "$target" -le "$(date +%s)" ]; then
		not_ok "the test steps the clock forward only ($1 is not ahead)"
		return 1
	fi
	off=$(( target - $(real_s) ))
	[ "$off" -ge 0 ] && off=+$off # libfaketime: "+N" or "-N" seconds
	echo "$off" >"$FAKERC.new"
	mv -f "$FAKERC.new" "$FAKERC"
	STEP_MS=$(( target * 1000 ))
}
step_to "2026-12-06 20:00:00 +07" || exit 1 # Sunday evening, the week starts tomorrow
export LD_PRELOAD=$FAKELIB FAKETIME_TIMESTAMP_FILE=$FAKERC FAKETIME_NO_CACHE=1
export FAKETIME_DONT_FAKE_MONOTONIC=1
unset FAKETIME FAKETIME_SHARED
# a sanitizer runtime wants to be first; libfaketime before it is harmless
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
diag "fake clock: $(TZ=$TZ_SITE date '+%a %Y-%m-%d %H:%M:%S') in Vietnam (offset $(cat "$FAKERC") s)"

# ---------------------------------------------------------------- the station

start_broker || exit 1
keygen || exit 1
write_controller_cfg "timezone = \"$TZ_SITE\";"
start_controller || exit 1
declare -A ZONE=([n1]=thon-1 [n2]=thon-2 [n3]=thon-2)
NODES=(n1 n2 n3)
for n in "${NODES[@]}"; do
	STATUS_INTERVAL=5 write_node_cfg "$n" "${ZONE[$n]}"
	start_node "$n" || exit 1
done

mkdir -p "$T/sched"
sox -n -r 48000 -c 1 -b 16 "$T/sched/sang.wav" synth 1.5 sine 440 vol 0.5 2>/dev/null &&
	sox -n -r 48000 -c 1 -b 16 "$T/sched/chieu.wav" synth 1.5 sine 550 vol 0.5 2>/dev/null &&
	sox -n -r 48000 -c 1 -b 16 "$T/sched/tuan.wav" synth 1.0 sine 660 vol 0.5 2>/dev/null &&
	sox -n -r 22050 -c 1 "$T/tone.wav" synth 1.5 sine 900 gain -6 2>/dev/null &&
	sox -n -r 22050 -c 1 "$T/live.wav" synth 2.0 sine 600 gain -6 2>/dev/null ||
	{ not_ok "sox makes the test sounds"; exit 1; }
cat >"$T/sched/tuan-mau.cfg" <<'EOF'
items = (
  { id = "sang"; title = "Chương trình phát thanh buổi sáng"; content = "sang.wav";
    zones = ["all"]; times = ["05:30"]; days = "daily"; },
  { id = "chieu"; title = "Chương trình phát thanh buổi chiều"; content = "chieu.wav";
    zones = ["all"]; times = ["17:00"]; days = "daily"; },
  { id = "tuan"; title = "Thông báo hàng tuần"; content = "tuan.wav";
    zones = ["thon-2"]; times = ["09:00"]; days = ["tue"]; repeat = 2; gap_s = 2; }
);
EOF
if "$LOAXA" schedule apply "$T/sched/tuan-mau.cfg" >"$T/apply.log" 2>&1; then
	ok "the week's schedule is applied ($(grep -m1 -o '[0-9]* plays[^,]*' "$T/apply.log" || true))"
else
	fail "loaxa schedule apply"
	sed 's/^/#   /' "$T/apply.log"
	exit 1
fi
if "$LOAXA" emergency clip tone "$T/tone.wav" >"$T/clip.log" 2>&1; then
	ok "the emergency clip is stored"
else
	fail "loaxa emergency clip tone"
	sed 's/^/#   /' "$T/clip.log"
	exit 1
fi
clip_ready() { node_json "$1" | jq -e '.status.emergency.clips.tone == true' >/dev/null; }
plan_ready() { # every upcoming play of the node's plan has its content
	node_json "$1" | jq -e '(.status.upcoming | length) > 0 and
		([.status.upcoming[] | select(.ready != true)] | length) == 0' >/dev/null
}
for n in "${NODES[@]}"; do
	check "$n holds its plan's content and the emergency clip" \
		wait_for 60 eval "plan_ready $n && clip_ready $n" ||
		node_json "$n" | jq -c '.status.upcoming, .status.emergency' | sed 's/^/#   /'
done

# ---------------------------------------------------------------- helpers

# every node reported since the step (STEP_MS), with its clock estimate
# back on the controller's: a ping in flight across the step gives a sample
# hours off, which the node throws away at its next quick pings
settled() {
	"$LOAXA" nodes --json 2>/dev/null | jq -e --argjson t "$STEP_MS" \
		'[.nodes[] | select(.online and (.status.ts // 0) >= $t and
			((.status.clock.offset_ms // 1e9) | fabs) < 50)] | length == 3' >/dev/null
}
# after a step: a fresh token (tokens live 8 h of wall clock) and every node
# heard from again with its clock settled. (The controller does not mark
# nodes offline for a step of its own clock: nodes.h, ctl_nodes_tick.)
after_step() {
	wait_for 10 api_login || { fail "the administrator logs in after the clock step"; return 1; }
	wait_for 30 settled || { fail "every node reports again, clock settled, after the clock step"; return 1; }
}

# occ ITEM DAY TIME N : an occurrence id (docs/schedules.md)
occ() { echo "o-$1-$(date -d "$2" +%Y%m%d)-$3-$4"; }
list_json() { "$LOAXA" schedule list --date "$1" --days "${2:-1}" --json 2>/dev/null; }
# played DAY OCC COUNT : that many nodes have played OCC
played() {
	list_json "$1" | jq -e --arg o "$2" --argjson k "$3" \
		'[.occurrences[] | select(.occurrence == $o and .state == "played")] | length == $k' >/dev/null
}
# program DAY HH:MM ITEM NODES [REPEATS] : step to 4 s before it, wait
# until each of NODES nodes played every repeat (30 s: a node that noticed
# the step late still starts it within its 10 minutes, and that counts)
PLAYED=0
program() {
	local day=$1 at=$2 item=$3 k=$4 reps=${5:-1} r o
	step_to "@$(( $(date -d "$day $at +07" +%s) - 4 ))" || return 1
	after_step || return 1
	for ((r = 1; r <= reps; r++)); do
		o=$(occ "$item" "$day" "${at/:/}" "$r")
		if wait_for 30 played "$day" "$o" "$k"; then
			PLAYED=$(( PLAYED + k ))
		else
			fail "$o played on its $k nodes"
			list_json "$day" | jq -c --arg o "$o" '.occurrences[] | select(.occurrence == $o)' |
				sed 's/^/#   /'
			return 1
		fi
	done
}

# the emergency of the day: a real one on even days, a drill on odd ones;
# every node confirms, then it is stopped by hand
EMERGENCIES=0
emergency() {
	local day=$1 drill=()
	[ $(( $2 % 2 )) = 1 ] && drill=(--drill)
	"$LOAXA" emergency start --clip tone --all "${drill[@]}" --max 60s --timeout 15 --json \
		>"$T/em.json" 2>"$T/em.err"
	if ! jq -e '.not_confirmed == []' "$T/em.json" >/dev/null 2>&1; then
		fail "$day: every node confirms the emergency${drill[*]:+ drill}"
		sed 's/^/#   /' "$T/em.json" "$T/em.err"
		return 1
	fi
	sleep 1
	"$LOAXA" emergency stop >"$T/em-stop.log" 2>&1 ||
		{ fail "$day: loaxa emergency stop"; sed 's/^/#   /' "$T/em-stop.log"; return 1; }
	EMERGENCIES=$(( EMERGENCIES + 1 ))
}

# the live session of the day: 2 s from a file to thon-2 (n2, n3)
LIVES=0
live() {
	local day=$1 id
	"$LOAXA" live --file "$T/live.wav" --zone thon-2 --json >"$T/live.json" 2>"$T/live.err" ||
		{ fail "$day: loaxa live --file --zone thon-2"; sed 's/^/#   /' "$T/live.err"; return 1; }
	id=$(jq -r .live "$T/live.json")
	ended() {
		[ "$("$LOAXA" plays --json 2>/dev/null | jq --arg s "$id" \
			'[.plays[] | select(.type == "live_ended" and .broadcast == $s)] | length')" = 2 ]
	}
	wait_for 15 ended || { fail "$day: live session $id ended on n2 and n3"; return 1; }
	LIVES=$(( LIVES + 1 ))
}

# ---------------------------------------------------------------- RSS, descriptors

DAEMONS=(controller "${NODES[@]}" broker)
declare -A RSS0=() FD0=() RSS1=() FD1=()
rss_kb() { awk '$1 == "VmRSS:" { print $2 }' "/proc/$1/status" 2>/dev/null; }
# open descriptors, less libfaketime's reads of $FAKERC (FAKETIME_NO_CACHE
# opens it at every wall-clock read: the test's tool, not the daemon)
fd_count() {
	local f n=0 l
	for f in /proc/"$1"/fd/*; do
		l=$(readlink "$f" 2>/dev/null) || continue
		[ "$l" = "$FAKERC" ] && continue
		n=$(( n + 1 ))
	done
	echo "$n"
}
# figures LABEL : print every daemon's RSS and descriptors, one line each
# (the lowest of 3 descriptor counts 0.2 s apart: a CLI connection being
# closed is not a leak); into RSS1/FD1
figures() {
	local d pid a b c
	for d in "${DAEMONS[@]}"; do
		pid=${PID_OF[$d]}
		a=$(fd_count "$pid"); sleep 0.2; b=$(fd_count "$pid"); sleep 0.2; c=$(fd_count "$pid")
		FD1[$d]=$(printf '%s\n' "$a" "$b" "$c" | sort -n | head -n1)
		RSS1[$d]=$(rss_kb "$pid")
		printf '# %-7s %-10s pid %-7s RSS %6s kB  fds %3s\n' "$1" "$d" "$pid" "${RSS1[$d]}" "${FD1[$d]}"
	done
}

# ---------------------------------------------------------------- the week

# "now" of the controller and of a node follow the fake clock
step_to "2026-12-06 21:00:00 +07"
after_step || exit 1
FAKE_MS=$(( $(date +%s) * 1000 ))
ctl_now() { "$LOAXA" readiness --json | jq -r '.until - 86400000'; }
node_ts() { node_json n1 | jq -r '.status.ts'; }
near() { [ -n "$1" ] && [ "$1" != null ] && [ $(( $1 - FAKE_MS )) -ge -2000 ] && [ $(( $1 - FAKE_MS )) -le 30000 ]; }
c=$(ctl_now)
check "the controller's \"now\" is the fake clock's (readiness until - 24 h = $c, the test's $FAKE_MS)" near "$c"
n1ts_fresh() { local t; t=$(node_ts); near "$t" && [ "$t" -ge "$FAKE_MS" ]; }
check "a node's \"now\" is the fake clock's (its status ts)" wait_for 15 n1ts_fresh ||
	diag "n1 status ts $(node_ts)"

DAY0=2026-12-07 # Monday
T_START=$(real_s)
declare -A EXPECT=([n1]=0 [n2]=0 [n3]=0) EXPECT_EM=([n1]=0 [n2]=0 [n3]=0)
for ((d = 0; d < DAYS; d++)); do
	day=$(date -d "$DAY0 + $d days" +%Y-%m-%d)
	dow=$(date -d "$day" +%a)
	before=$PLAYED
	program "$day" 05:30 sang 3 || break
	if [ "$dow" = Tue ]; then
		program "$day" 09:00 tuan 2 2 || break
		EXPECT[n2]=$(( EXPECT[n2] + 2 ))
		EXPECT[n3]=$(( EXPECT[n3] + 2 ))
	fi
	step_to "$day 10:30:00 +07" && after_step || break
	emergency "$day" "$d" || break
	live "$day" || break
	program "$day" 17:00 chieu 3 || break
	for n in "${NODES[@]}"; do EXPECT[$n]=$(( EXPECT[$n] + 2 )); EXPECT_EM[$n]=$(( EXPECT_EM[$n] + 1 )); done
	ok "$dow $day: $(( PLAYED - before )) plays played, an emergency$([ $(( d % 2 )) = 1 ] && echo ' drill'), a live session"
	if [ "$d" = 0 ]; then
		# warm-up done: every kind of work has happened once
		figures "start"
		for x in "${DAEMONS[@]}"; do RSS0[$x]=${RSS1[$x]}; FD0[$x]=${FD1[$x]}; done
	elif [ "$d" -lt $(( DAYS - 1 )) ]; then
		figures "$dow" >"$T/figures-$day.txt"
		sed 's/^# /#   /' "$T/figures-$day.txt"
	fi
done
check "all $DAYS days simulated ($PLAYED plays played, $EMERGENCIES emergencies, $LIVES lives)" \
	[ "$d" = "$DAYS" ]
[ "$d" = "$DAYS" ] || { dump_logs 20; exit 1; }

# ---------------------------------------------------------------- what was aired

LAST=$(date -d "$DAY0 + $(( DAYS - 1 )) days" +%Y-%m-%d)
list_json "$DAY0" "$DAYS" >"$T/week.json"
all_played() {
	jq -e --argjson n "$PLAYED" '([.occurrences[] | select(.state == "played")] | length) == $n and
		([.occurrences[] | select(.state != "played")] | length) == 0' "$T/week.json" >/dev/null
}
check "schedule list: the $PLAYED plays of the $DAYS days played, none missed or failed" all_played ||
	jq -c '.occurrences[] | select(.state != "played")' "$T/week.json" | head -20 | sed 's/^/#   /'
"$LOAXA" report --month 2026-12 --json >"$T/report.json" 2>"$T/report.err"
for n in "${NODES[@]}"; do
	got=$(jq -c --arg n "$n" '.clusters[] | select(.node == $n) |
		[.scheduled, .played, .failed, .emergencies + .drills]' "$T/report.json")
	want="[${EXPECT[$n]},${EXPECT[$n]},0,${EXPECT_EM[$n]}]"
	check "report 2026-12, $n: scheduled, played, failed, emergencies+drills = $want" [ "$got" = "$want" ] ||
		diag "got $got"
done

# ---------------------------------------------------------------- flat

figures "end"
for x in "${DAEMONS[@]}"; do
	grow=$(( RSS1[$x] - RSS0[$x] ))
	limit=$(( SOAK_RSS_KB + RSS0[$x] / 20 ))
	check "$x: RSS flat over $(( DAYS - 1 )) simulated days after warm-up (${RSS0[$x]} -> ${RSS1[$x]} kB, ${grow} kB <= $limit kB)" \
		[ "$grow" -le "$limit" ]
	check "$x: open descriptors flat (${FD0[$x]} -> ${FD1[$x]}, at most +$SOAK_FD_SLACK)" \
		[ "${FD1[$x]}" -le $(( FD0[$x] + SOAK_FD_SLACK )) ]
done
for n in "${NODES[@]}"; do
	diag "$n: noticed $(grep -c "this machine's clock moved by" "$T/$n/node.log") steps of its clock and $(grep -c "the controller's clock moved by" "$T/$n/node.log") of the controller's"
done
diag "$(grep -c "^.*plan [0-9]* for node" "${LOG_OF[controller]}") plans made; $DAYS days simulated in $(( $(real_s) - T_START )) s"

stop_all_checked
finish
