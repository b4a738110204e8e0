# tests/lib.sh - shared helpers for the integration tests (and scripts/demo.sh).
#
# Source it from bash. It gives each test:
#   - TAP-style results: ok/not_ok/check print "ok - ..." / "not ok - ..."
#     (tests/run.sh counts them); diag prints "# ..." lines;
#   - a private directory $T (removed at exit unless KEEP=1);
#   - a real mosquitto on 127.0.0.1:<free port> (start_broker), a controller
#     and nodes built from $LOAXA_BIN (start_controller, start_node), each
#     node's ALSA output captured through the `file` plugin (or, PACED=1, the
#     paced test card), the controller's capture devices paced test cards
#     (paced_capture_asoundrc);
#   - cleanup that stops only the processes it started, by pid.
#
# Environment:
#   LOAXA_BIN     directory with loaxa, loaxa-encode, loaxa-controller,
#                 loaxa-node and tools/ (default: build/ of this checkout)
#   KEEP=1        keep $T after the test (its path is printed)
#   LOAXA_TMP     use this directory for $T instead of a fresh one in /tmp
#   LOAXA_WRAP    command prefix for both daemons (e.g. valgrind ...)
#   LIB_QUIET=1   no diagnostics on stdout (the demo prints its own words)
#   LIB_KEEP_LANG=1  keep the caller's LANG (the demo); tests run in English
#   SECURE=1      the broker is made by `loaxa broker-config` (TLS, accounts,
#                 ACL); the controller and nodes use their credentials and
#                 nodes are provisioned with `loaxa node add` (the demo and
#                 the security tests). Default: plain loopback, anonymous,
#                 which the configs must allow explicitly (mqtt.insecure =
#                 true; the daemons then warn at every start).
#
# The API needs a token: start_controller creates the administrator
# "admin" (loaxa-controller --add-admin) and logs in; the token lives in
# $T/cli-token ($LOAXA_TOKEN_FILE).
set -u

ROOT=${ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
: "${LOAXA_BIN:=$ROOT/build}"
LOAXA_BIN=$(cd "$LOAXA_BIN" && pwd)
export LOAXA_BIN ROOT
: "${ASAN_OPTIONS:=detect_leaks=1:abort_on_error=0:halt_on_error=1}"
: "${UBSAN_OPTIONS:=print_stacktrace=1:halt_on_error=1}"
export ASAN_OPTIONS UBSAN_OPTIONS

# Messages from this build's catalogs (docs/i18n.md), in English whatever
# the caller's locale: the tests match English text (tests/integration/i18n.sh
# sets LANG itself). The demo (LIB_KEEP_LANG=1) speaks the caller's language.
export LOAXA_LOCALEDIR=$LOAXA_BIN/locale
if [ "${LIB_KEEP_LANG:-0}" != 1 ]; then
	unset LANGUAGE LC_ALL LC_MESSAGES
	export LANG=C.UTF-8
fi

LOAXA=$LOAXA_BIN/loaxa
LOAXA_ENCODE=$LOAXA_BIN/loaxa-encode  # what `loaxa encode` runs (next to loaxa)
CONTROLLER=$LOAXA_BIN/loaxa-controller
NODE=$LOAXA_BIN/loaxa-node
SEALCMD=$LOAXA_BIN/tools/sealcmd
PCMCOMPARE=$LOAXA_BIN/tools/pcmcompare
SITE=${SITE:-xa-test}

if [ -n "${LOAXA_TMP:-}" ]; then
	T=$LOAXA_TMP
	mkdir -p "$T"
else
	T=$(mktemp -d /tmp/loaxa-test.XXXXXX)
fi
T=$(cd "$T" && pwd)
export T

TEST_FAILED=0
declare -A PID_OF=()   # name -> pid of everything we started
declare -A LOG_OF=()   # name -> its log file
declare -A PORT_OF=()  # broker name -> port
STOP_ORDER=()          # names in start order (stopped in reverse)

# ---------------------------------------------------------------- results

diag() {
	[ "${LIB_QUIET:-0}" = 1 ] && return 0
	printf '# %s\n' "$*"
}

ok() { printf 'ok - %s\n' "$*"; }

not_ok() {
	printf 'not ok - %s\n' "$*"
	TEST_FAILED=1
}

# check "description" command args... : ok when the command succeeds.
check() {
	local desc=$1
	shift
	if "$@"; then
		ok "$desc"
	else
		not_ok "$desc"
		return 1
	fi
}

# Last lines of a log, indented as TAP diagnostics.
dump_log() {
	local f=$1 n=${2:-30}
	[ -f "$f" ] || return 0
	printf '# --- last %s lines of %s\n' "$n" "$f"
	tail -n "$n" "$f" | sed 's/^/#   /'
}

# Tails of every daemon log we started (called on a failure).
dump_logs() {
	local name
	for name in "${STOP_ORDER[@]}"; do
		dump_log "${LOG_OF[$name]}" "${1:-20}"
	done
}

# fail "what" : not ok with the logs of every daemon, for a failed step.
fail() {
	not_ok "$*"
	dump_logs 25
}

# --------------------------------------------------------------- polling

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# wait_for SECONDS command args... : poll (every 50 ms) until the command
# succeeds; returns 1 after SECONDS.
wait_for() {
	local deadline=$(( $(now_ms) + $1 * 1000 ))
	shift
	while :; do
		"$@" >/dev/null 2>&1 && return 0
		[ "$(now_ms)" -ge "$deadline" ] && return 1
		sleep 0.05
	done
}

# Number of lines of FILE matching the extended regex (0 when none).
log_count() {
	local n
	n=$(grep -Ec -- "$2" "$1" 2>/dev/null) || true
	echo "${n:-0}"
}

# log_grows FILE REGEX BEFORE : more matching lines than BEFORE.
log_grows() { [ "$(log_count "$1" "$2")" -gt "$3" ]; }

# ---------------------------------------------------------------- processes

# A process we started is alive (a zombie is not).
alive() {
	local pid=$1 state
	[ -r "/proc/$pid/stat" ] || return 1
	state=$(sed 's/^.*) \(.\).*/\1/' "/proc/$pid/stat" 2>/dev/null) || return 1
	[ "$state" != Z ] && [ "$state" != X ]
}

# stop NAME [SIGNAL] : stop a process we started and reap it; prints nothing.
# Returns its exit status (or 128+signal), 0 when it was not running.
stop() {
	local name=$1 sig=${2:-TERM} pid i rc=0
	pid=${PID_OF[$name]:-}
	[ -n "$pid" ] || return 0
	kill "-$sig" "$pid" 2>/dev/null
	for ((i = 0; i < ${STOP_TIMEOUT:-10} * 20; i++)); do
		alive "$pid" || break
		sleep 0.05
	done
	if alive "$pid"; then
		kill -KILL "$pid" 2>/dev/null
		printf '# %s (pid %s) did not stop within %s s of SIG%s: killed\n' \
			"$name" "$pid" "${STOP_TIMEOUT:-10}" "$sig"
	fi
	{ wait "$pid"; } 2>/dev/null
	rc=$?
	unset "PID_OF[$name]"
	return "$rc"
}

# stop_checked NAME : stop with SIGTERM and report, as a test result, that it
# shut down cleanly: exit status 0 and no sanitizer report in its log.
stop_checked() {
	local name=$1 rc log=${LOG_OF[$1]:-}
	[ -n "${PID_OF[$name]:-}" ] || return 0
	stop "$name" TERM
	rc=$?
	if [ "$rc" -ne 0 ]; then
		not_ok "$name stops cleanly on SIGTERM (exit status $rc)"
		dump_log "$log" 40
	elif [ -n "$log" ] && grep -Eq 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$log"; then
		not_ok "$name: sanitizer report in $log"
		grep -E -A15 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$log" | head -40 | sed 's/^/#   /'
	else
		ok "$name stops cleanly on SIGTERM, no sanitizer reports"
	fi
}

# Stop every daemon we started (controller and nodes first, brokers last),
# reporting each one's shutdown as a result.
stop_all_checked() {
	local i name
	for ((i = ${#STOP_ORDER[@]} - 1; i >= 0; i--)); do
		name=${STOP_ORDER[$i]}
		case "$name" in
		broker*) ;;
		*) stop_checked "$name" ;;
		esac
	done
	for name in "${STOP_ORDER[@]}"; do
		case "$name" in broker*) stop "$name" ;; esac
	done
}

lib_cleanup() {
	local rc=$? i name
	for ((i = ${#STOP_ORDER[@]} - 1; i >= 0; i--)); do
		name=${STOP_ORDER[$i]}
		[ -n "${PID_OF[$name]:-}" ] && stop "$name" TERM
	done
	if [ "${KEEP:-0}" = 1 ] || [ -n "${LOAXA_TMP:-}" ]; then
		diag "kept $T"
	else
		rm -rf "$T"
	fi
	exit "$rc"
}
trap lib_cleanup EXIT
trap 'exit 130' INT TERM

# End of a test: exit status 1 when anything failed.
finish() {
	[ "$TEST_FAILED" = 0 ]
	exit $?
}

# need FILE... : skip-as-failure when a binary under test is missing.
need() {
	local f missing=0
	for f in "$@"; do
		if [ ! -x "$f" ]; then
			not_ok "binary $f is built"
			missing=1
		fi
	done
	[ "$missing" = 0 ] || exit 1
}

# ---------------------------------------------------------------- broker

# A TCP port nobody listens on (checked against /proc/net/tcp{,6}).
free_port() {
	local port hex
	while :; do
		port=$(( 20000 + (RANDOM * 32768 + RANDOM) % 40000 ))
		hex=$(printf ':%04X ' "$port")
		cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | grep -q "$hex" || break
	done
	echo "$port"
}

broker_up() {
	mosquitto_pub -h 127.0.0.1 -p "$1" -i "loaxa-probe-$$" -t loaxa-probe -n -q 0 \
		>/dev/null 2>&1
}

# secure_broker_up PORT : the controller's account can publish over TLS.
secure_broker_up() {
	mosquitto_pub -h 127.0.0.1 -p "$1" --cafile "$T/broker/ca.crt" -u controller \
		-P "$(cat "$T/broker/controller.password")" -i "loaxa-probe-$$" \
		-t "loaxa/$SITE/probe" -n -q 0 >/dev/null 2>&1
}

# start_secure_broker [NAME] [PORT] : mosquitto with the configuration
# `loaxa broker-config` writes into $T/broker (kept across restarts).
start_secure_broker() {
	local name=${1:-broker} port=${2:-${PORT_OF[${1:-broker}]:-}} tries
	for ((tries = 0; tries < 5; tries++)); do
		[ -n "$port" ] || port=$(free_port)
		"$LOAXA" broker-config --dir "$T/broker" --site "$SITE" --port "$port" \
			--listen 127.0.0.1 --user "$(id -un)" >"$T/broker-config.log" 2>&1 || {
			not_ok "loaxa broker-config makes the broker configuration"
			dump_log "$T/broker-config.log"
			return 1
		}
		LOG_OF[$name]=$T/$name.log
		mosquitto -c "$T/broker/mosquitto.conf" >>"$T/$name.log" 2>&1 &
		PID_OF[$name]=$!
		[[ " ${STOP_ORDER[*]} " == *" $name "* ]] || STOP_ORDER+=("$name")
		PORT_OF[$name]=$port
		if wait_for 10 secure_broker_up "$port"; then
			BROKER_PORT=$port
			return 0
		fi
		stop "$name"
		[ -n "${2:-}" ] && break
		port=
	done
	not_ok "mosquitto starts with the generated secure configuration"
	dump_log "$T/$name.log"
	return 1
}

# reload_broker [NAME] : SIGHUP, so mosquitto rereads passwd and acl.
reload_broker() {
	local pid=${PID_OF[${1:-broker}]:-}
	[ -n "$pid" ] && kill -HUP "$pid"
	sleep 0.3 # mosquitto handles the signal in its next loop turn
}

# start_broker [NAME] [PORT] : a real mosquitto on 127.0.0.1. The broker's
# max_packet_size is 1 MiB unless BROKER_NO_LIMIT=1 (the 10 MB hostile test
# needs the payload to reach the daemons). Sets BROKER_PORT.
start_broker() {
	local name=${1:-broker} port=${2:-} conf tries
	if [ "${SECURE:-0}" = 1 ]; then
		start_secure_broker "$@"
		return
	fi
	conf=$T/$name.conf
	for ((tries = 0; tries < 5; tries++)); do
		[ -n "$port" ] || port=$(free_port)
		{
			echo "listener $port 127.0.0.1"
			echo "allow_anonymous true"
			echo "persistence false"
			echo "user $(id -un)"
			echo "log_dest stderr"
			echo "log_type error"
			echo "log_type warning"
			echo "log_type notice"
			echo "log_type information"
			echo "connection_messages true"
			[ "${BROKER_NO_LIMIT:-0}" = 1 ] || echo "max_packet_size 1048576"
		} >"$conf"
		LOG_OF[$name]=$T/$name.log
		mosquitto -c "$conf" >>"$T/$name.log" 2>&1 &
		PID_OF[$name]=$!
		[[ " ${STOP_ORDER[*]} " == *" $name "* ]] || STOP_ORDER+=("$name")
		PORT_OF[$name]=$port
		if wait_for 10 broker_up "$port"; then
			BROKER_PORT=$port
			return 0
		fi
		stop "$name"
		if [ -n "${2:-}" ]; then
			break # a fixed port (restart): do not wander off
		fi
		port=
	done
	not_ok "mosquitto starts on 127.0.0.1"
	dump_log "$T/$name.log"
	return 1
}

# restart_broker NAME : stop it and start it again on the same port.
restart_broker() {
	local name=${1:-broker} port=${PORT_OF[${1:-broker}]}
	stop "$name"
	start_broker "$name" "$port"
}

# ---------------------------------------------------------------- keys, configs

# keygen [DIR] : controller key pair in DIR (default $T/keys).
keygen() {
	local dir=${1:-$T/keys}
	"$LOAXA" keygen -o "$dir" >"$T/keygen.log" 2>&1 || {
		not_ok "loaxa keygen -o $dir"
		dump_log "$T/keygen.log"
		return 1
	}
}

# write_controller_cfg [extra libconfig lines...] : $T/controller/controller.cfg
# CHUNK_BYTES and WINDOW override delivery settings.
write_controller_cfg() {
	local d=$T/controller
	mkdir -p "$d"
	{
		echo "site = \"$SITE\";"
		echo "state_dir = \"state\";"
		echo "api_socket = \"$d/api.sock\";"
		echo "key = \"$T/keys/controller.key\";"
		if [ "${SECURE:-0}" = 1 ]; then
			echo "mqtt = { host = \"127.0.0.1\"; port = ${BROKER_PORT}; keepalive = 30;"
			echo "  username = \"controller\"; password_file = \"$T/broker/controller.password\";"
			echo "  cafile = \"$T/broker/ca.crt\"; };"
			echo "broker = { dir = \"$T/broker\"; node_host = \"127.0.0.1\"; node_port = ${BROKER_PORT}; };"
		else
			# a plain loopback test broker: allowed only when said (docs/security.md)
			echo "mqtt = { host = \"127.0.0.1\"; port = ${BROKER_PORT}; keepalive = 30; insecure = true; };"
		fi
		echo "delivery = { chunk_bytes = ${CHUNK_BYTES:-65536}; window = ${WINDOW:-16}; };"
		echo "nodes = { offline_after_s = 90; };"
		local l
		for l in "$@"; do echo "$l"; done
	} >"$d/controller.cfg"
	export LOAXA_SOCKET=$d/api.sock
	export LOAXA_TOKEN_FILE=$T/cli-token
	[ -f "$T/admin.pw" ] || head -c 18 /dev/urandom | base64 | tr -d '/+=' >"$T/admin.pw"
}

# provision_node NAME ZONE... : `loaxa node add` (bundle in $T/NAME/bundle),
# then the broker rereads its accounts (unless NO_RELOAD=1).
provision_node() {
	local name=$1 args=() z
	shift
	for z in "$@"; do args+=(--zone "$z"); done
	[ -f "$T/$name/bundle/node.cfg" ] && return 0
	mkdir -p "$T/$name"
	"$LOAXA" node add "$name" "${args[@]}" --out "$T/$name/bundle" \
		>"$T/$name/provision.log" 2>&1 || {
		not_ok "loaxa node add $name provisions it"
		dump_log "$T/$name/provision.log"
		return 1
	}
	# NO_RELOAD=1: the caller provisions many and reloads once
	[ "${NO_RELOAD:-0}" = 1 ] || reload_broker
}

# asoundrc_for NAME : an ALSA config defining pcm.cap_NAME, a `file` plugin
# over the null device: everything the node plays is appended to
# $T/NAME/capture.raw as raw samples. truncate false makes ALSA start a new
# file (capture.raw.0001, ...) for each open instead of overwriting, so
# nothing played is ever lost; capture_since reads them all in order.
# The node finds it through XDG_CONFIG_HOME ($T/NAME/xdg/alsa/asoundrc), which
# ALSA loads after the system configuration.
asoundrc_for() {
	local name=$1 d=$T/$1
	mkdir -p "$d/xdg/alsa"
	cat >"$d/xdg/alsa/asoundrc" <<EOF
pcm.cap_$name {
	type file
	slave.pcm "null"
	file "$d/capture.raw"
	format "raw"
	truncate false
}
EOF
}

# paced_asoundrc NAME : add pcm.paced_NAME to the node's ALSA config: the
# paced test card (tests/alsa/pcm_loaxapaced.c) that consumes samples in real
# time and logs, to $T/NAME/onsets.log, when each sound starts and stops at
# the "speaker" (onset|silence|xrun <realtime_ns> <frame>); the samples go to
# $T/NAME/paced.raw. With PACED=1, write_node_cfg points the node at it.
PACED_PLUGIN=$LOAXA_BIN/alsa/libasound_module_pcm_loaxapaced.so
# While $T/NAME/unplugged exists the card is unplugged (-ENODEV).
# PACED_KERNEL_CLOCK=1: the card reads the real clocks by system call, past a
# libfaketime preloaded into the node (tests/integration/clock_drift.sh).
paced_asoundrc() {
	local name=$1 d=$T/$1
	mkdir -p "$d/xdg/alsa"
	cat >>"$d/xdg/alsa/asoundrc" <<EOF
pcm_type.loaxapaced { lib "$PACED_PLUGIN" }
pcm.paced_$name {
	type loaxapaced
	log "$d/onsets.log"
	capture "$d/paced.raw"
	latency_us ${PACED_LATENCY_US:-0}
	kernel_clock ${PACED_KERNEL_CLOCK:-0}
	gone "$d/unplugged"
}
EOF
}

# paced_capture_asoundrc NAME [FIELD VALUE]... : add pcm.paced_src_NAME to
# the controller's ALSA config ($T/controller/xdg/alsa/asoundrc, which
# start_controller then passes on through XDG_CONFIG_HOME): the paced test
# card as a capture device (a receiver's line-out, a microphone), paced in
# real time. The FIELD VALUE pairs say what it hears (tests/alsa/
# pcm_loaxapaced.c), e.g.
#   paced_capture_asoundrc vov source "$T/vov.raw"      # S16_LE raw, looped
#   paced_capture_asoundrc mic tone_hz 700 tone_on_ms 300 tone_off_ms 200
# It logs when each sound entered the "microphone" to
# $T/controller/src_NAME.onsets.log (onset|silence|xrun <realtime_ns> <frame>).
paced_capture_asoundrc() {
	local name=$1 d=$T/controller rc=$T/controller/xdg/alsa/asoundrc
	shift
	mkdir -p "$d/xdg/alsa"
	grep -qs '^pcm_type.loaxapaced ' "$rc" ||
		echo "pcm_type.loaxapaced { lib \"$PACED_PLUGIN\" }" >>"$rc"
	{
		echo "pcm.paced_src_$name {"
		echo "	type loaxapaced"
		echo "	log \"$d/src_$name.onsets.log\""
		while [ $# -ge 2 ]; do
			if [[ $2 =~ ^[0-9]+$ ]]; then
				echo "	$1 $2"
			else
				echo "	$1 \"$2\""
			fi
			shift 2
		done
		echo "}"
	} >>"$rc"
}

# mixer_asoundrc NAME [CONTROL] : put a real mixer control in front of the
# node's paced card (after PACED=1 write_node_cfg): ALSA's softvol plugin,
# twice - a volume (256 steps, -51..0 dB) and a mute switch (resolution 2) -
# whose controls live on a test card's control interface
# (tests/alsa/ctl_loaxamixer.c, ctl "hw:0", values in $T/NAME/mixer.state,
# shared by every process). amixer -D hw:0 with XDG_CONFIG_HOME=$T/NAME/xdg
# sees the control CONTROL (default "Horn"); the node plays through
# pcm.horn_NAME and its node.cfg names the control (alsa.mixer).
CTL_PLUGIN=$LOAXA_BIN/alsa/libasound_module_ctl_loaxamixer.so
mixer_asoundrc() {
	local name=$1 ctl=${2:-Horn} d=$T/$1
	cat >>"$d/xdg/alsa/asoundrc" <<EOF
ctl_type.loaxamixer { lib "$CTL_PLUGIN" }
ctl.!hw {
	@args [ CARD ]
	@args.CARD { type string default "0" }
	type loaxamixer
	name "$ctl"
	state "$d/mixer.state"
}
pcm.mute_$name {
	type softvol
	slave.pcm "paced_$name"
	control { name "$ctl Playback Switch" card 0 count 1 }
	resolution 2
}
pcm.horn_$name {
	type softvol
	slave.pcm "mute_$name"
	control { name "$ctl Playback Volume" card 0 count 1 }
}
EOF
	sed -i "s|device = \"paced_$name\";|device = \"horn_$name\"; mixer = \"$ctl\"; mixer_device = \"hw:0\"; mixer_level = ${MIXER_LEVEL:-100};|" \
		"$d/node.cfg"
}

# node_amixer NAME ARGS... : amixer on that node's test card.
node_amixer() {
	local name=$1
	shift
	XDG_CONFIG_HOME=$T/$name/xdg amixer -D hw:0 "$@"
}

# onsets NAME : the realtime (ms) of every onset the paced card heard.
onsets() { awk '$1 == "onset" { printf "%.0f\n", $2 / 1000000 }' "$T/$1/onsets.log" 2>/dev/null; }

# write_node_cfg NAME ZONE... : $T/NAME/node.cfg (+ its asoundrc).
write_node_cfg() {
	local name=$1 d=$T/$1 zones="" z
	shift
	mkdir -p "$d"
	for z in "$@"; do zones="$zones${zones:+, }\"$z\""; done
	asoundrc_for "$name"
	local device=cap_$name
	if [ "${PACED:-0}" = 1 ]; then
		paced_asoundrc "$name"
		device=paced_$name
	fi
	# a plain loopback test broker: allowed only when said (docs/security.md)
	local mqtt="mqtt = { host = \"127.0.0.1\"; port = ${BROKER_PORT}; keepalive = 30; insecure = true; };"
	if [ "${SECURE:-0}" = 1 ]; then
		provision_node "$name" "$@" || return 1
		mqtt="mqtt = { host = \"127.0.0.1\"; port = ${BROKER_PORT}; keepalive = 30;
  username = \"$name\"; password_file = \"bundle/mqtt.password\"; cafile = \"bundle/ca.crt\"; };"
	fi
	cat >"$d/node.cfg" <<EOF
site = "$SITE";
node = "$name";
zones = [$zones];
state_dir = "state";
controller_key = "$(cat "$T/keys/controller.pub")";
$mqtt
alsa = { device = "$device"; channels = 1; rate = 48000; buffer_ms = 200; period_ms = 20; };
status_interval_s = ${STATUS_INTERVAL:-30};
max_future_s = 300;
max_message_bytes = 262144;
cache_max_mb = 512;
EOF
}

# ---------------------------------------------------------------- daemons

api_up() { "$LOAXA" nodes --json >/dev/null 2>&1; }

# api_login : log in as the administrator "admin" (token in $LOAXA_TOKEN_FILE).
api_login() { "$LOAXA" login admin --password-file "$T/admin.pw" >/dev/null 2>&1; }

# ensure_admin : the first administrator, made locally (docs/security.md).
ensure_admin() {
	local rc=0
	"$CONTROLLER" -c "$T/controller/controller.cfg" --add-admin admin \
		--password-file "$T/admin.pw" >"$T/add-admin.log" 2>&1 || rc=$?
	# 3: that user exists already (a restart)
	if [ "$rc" != 0 ] && [ "$rc" != 3 ]; then
		not_ok "loaxa-controller --add-admin admin"
		dump_log "$T/add-admin.log"
		return 1
	fi
}

# start_controller : run it in the background, wait until its API answers
# (logged in as admin). With an ALSA config of its own (paced_capture_asoundrc)
# it finds it through XDG_CONFIG_HOME, like the nodes.
start_controller() {
	local d=$T/controller alsaenv=()
	ensure_admin || return 1
	LOG_OF[controller]=$d/controller.log
	[ -f "$d/xdg/alsa/asoundrc" ] && alsaenv=(env "XDG_CONFIG_HOME=$d/xdg")
	# env execs the controller: $! stays its pid
	# shellcheck disable=SC2086
	"${alsaenv[@]}" ${LOAXA_WRAP:-} "$CONTROLLER" -c "$d/controller.cfg" -v >>"$d/controller.log" 2>&1 &
	PID_OF[controller]=$!
	[[ " ${STOP_ORDER[*]} " == *" controller "* ]] || STOP_ORDER+=(controller)
	if ! { api_up || wait_for "${START_TIMEOUT:-30}" api_login; } ||
		! wait_for 5 api_up; then
		fail "controller starts and its API answers on $LOAXA_SOCKET"
		return 1
	fi
}

# node_json NAME : that node's object from `loaxa nodes --json`.
node_json() {
	"$LOAXA" nodes --json 2>/dev/null | jq -e --arg n "$1" '.nodes[] | select(.node == $n)'
}

node_online() {
	"$LOAXA" nodes --json 2>/dev/null |
		jq -e --arg n "$1" '.nodes[] | select(.node == $n and .online == true)' >/dev/null
}

# start_node NAME : run it (its ALSA config through XDG_CONFIG_HOME) and wait
# until the controller lists it online.
start_node() {
	local name=$1 d=$T/$1
	LOG_OF[$name]=$d/node.log
	# shellcheck disable=SC2086
	XDG_CONFIG_HOME=$d/xdg ${LOAXA_WRAP:-} "$NODE" -c "$d/node.cfg" -v >>"$d/node.log" 2>&1 &
	PID_OF[$name]=$!
	[[ " ${STOP_ORDER[*]} " == *" $name "* ]] || STOP_ORDER+=("$name")
	if [ "${NO_WAIT_ONLINE:-0}" != 1 ] && ! wait_for "${START_TIMEOUT:-30}" node_online "$name"; then
		fail "node $name starts and the controller shows it online"
		return 1
	fi
}

# ---------------------------------------------------------------- captures

# Capture files of a node in the order ALSA made them.
capture_files() {
	local d=$T/$1
	ls "$d"/capture.raw "$d"/capture.raw.[0-9]* 2>/dev/null | sort -V
}

# capture_mark NAME : remember how much each capture file holds now.
capture_mark() {
	local f
	: >"$T/$1/capture.mark"
	for f in $(capture_files "$1"); do
		echo "$f $(stat -c %s "$f")" >>"$T/$1/capture.mark"
	done
}

# capture_since NAME OUT : everything the node played since capture_mark.
capture_since() {
	local name=$1 out=$2 f off
	: >"$out"
	for f in $(capture_files "$name"); do
		off=$(awk -v f="$f" '$1 == f { print $2 }' "$T/$name/capture.mark" 2>/dev/null)
		tail -c +"$(( ${off:-0} + 1 ))" "$f" >>"$out"
	done
}

# Bytes that are not zero in FILE (0: silence or nothing at all).
nonzero_bytes() { tr -d '\000' <"$1" | wc -c; }

# capture_nonsilent_since NAME : what was played since the mark has sound.
capture_nonsilent_since() {
	capture_since "$1" "$T/$1/since.raw"
	[ "$(nonzero_bytes "$T/$1/since.raw")" -gt 0 ]
}

# ---------------------------------------------------------------- content

# speech FILE TEXT : a Vietnamese announcement made now with espeak-ng.
speech() {
	espeak-ng -v vi -s 150 -w "$1" "$2" 2>"$T/espeak.log" || {
		not_ok "espeak-ng -v vi makes a test announcement"
		dump_log "$T/espeak.log"
		return 1
	}
}

# content_path ID : the controller's stored Ogg Opus for that content.
content_path() { echo "$T/controller/state/content/$1.opus"; }

# api_curl ARGS... : curl on the controller's API socket, with the CLI's token.
api_curl() {
	curl -s --unix-socket "$LOAXA_SOCKET" \
		-H "Authorization: Bearer $(head -n1 "$LOAXA_TOKEN_FILE" 2>/dev/null)" "$@"
}

# http_status METHOD PATH [TOKEN] [BODY] : one request on the controller's
# API socket; prints the HTTP status, the body goes to $T/resp.json.
http_status() {
	local args=(-s -o "$T/resp.json" -w '%{http_code}' --unix-socket "$LOAXA_SOCKET" -X "$1")
	[ -n "${3:-}" ] && args+=(-H "Authorization: Bearer $3")
	[ -n "${4:-}" ] && args+=(-H 'Content-Type: application/json' --data "$4")
	curl "${args[@]}" "http://localhost$2"
}

# sched_body FILE... : the body of POST /v1/schedule/check|apply for these
# schedule files, as `loaxa schedule check|apply` sends it (the controller
# reads no file itself): {"files":[{"name": FILE, "text": its text}]}. No
# audio map: for files whose items name no audio file. Pass it to curl as
# --data-binary @FILE (a body of megabytes is too long for an argument).
sched_body() {
	local args=() expr='[]' i=0 f
	for f in "$@"; do
		args+=(--arg "n$i" "$f" --rawfile "t$i" "$f")
		expr="$expr + [{name: \$n$i, text: \$t$i}]"
		i=$((i + 1))
	done
	jq -cn "${args[@]}" "{files: ($expr)}"
}

# jq over the controller API through the CLI: api_jq 'FILTER' COMMAND...
api_jq() {
	local filter=$1
	shift
	"$LOAXA" "$@" --json 2>/dev/null | jq -er "$filter"
}
