#!/bin/bash
# Signed remote update of the node software (issue 19.2; docs/operations.md,
# "Updating the nodes' software"), with a real broker, controller, node and
# installer (loaxa-node-update, update.run "spawn", update.backend "dir": the
# node binary in $T/n1/bin is swapped by rename; nothing is dpkg-installed on
# this machine). The node runs under a small supervisor loop that starts it
# again when it exits, as systemd's Restart=always does.
#   - the controller refuses a file that is not a Debian package and a
#     package that is not loaxa-node;
#   - a signed update whose body names another node, published on n1's
#     topic, is refused and counted (rejected.wrong_target);
#   - a tampered package (the controller's stored copy altered) fails the
#     node's SHA-256 check: refused, the old version keeps running;
#   - the update waits while a broadcast is queued, then while a plan item
#     is due within update.quiet_min, and installs once neither is there;
#     another waits during an emergency;
#   - a good update: the node reports the new version, outcome ok;
#   - a version that exits at once: rolled back by itself after
#     update.confirm_s, outcome rolled_back reported by the previous version;
#   - kill -9 of the installer in the middle of the swap (new binary written,
#     not yet renamed) and of the node (a power cut): after the restart the
#     node runs the previous version, whole, and reports the outcome;
#   - the same while the new version is on trial (step installed): after the
#     restart the new version runs, confirms, outcome ok.
# The versions are two builds of the node (VERSION=... in the Makefile) and a
# script that exits at once, each packed with dpkg-deb --build.
source "$(dirname "$0")/../lib.sh"
need "$LOAXA" "$CONTROLLER" "$NODE" "$SEALCMD" "$LOAXA_BIN/loaxa-node-update"

V1=$("$NODE" -V | awk '{print $2}')
V2=$V1+u2
ARCH=$(dpkg --print-architecture)
CONFIRM_S=15

# ---------------------------------------------------------------- the versions
# The second build of the node: the same sources with another version string
# (kept in build/node-update-v2 between runs: make rebuilds only what changed).
V2_DIR=$ROOT/build/node-update-v2
if ! make -s -C "$ROOT" -j2 O=build/node-update-v2 VERSION="$V2" \
	build/node-update-v2/loaxa-node >"$T/make-v2.log" 2>&1; then
	not_ok "build the node as version $V2"
	dump_log "$T/make-v2.log"
	exit 1
fi
check "a second build of the node says version $V2" \
	bash -c "\"$V2_DIR/loaxa-node\" -V | grep -qx 'loaxa-node $V2'"

# mkdeb OUT VERSION BINARY [PACKAGE] [ARCH] : a node package as debian/ makes it (the binary part)
mkdeb() {
	local out=$1 v=$2 bin=$3 pkg=${4:-loaxa-node} arch=${5:-$ARCH} d
	d=$(mktemp -d "$T/deb.XXXXXX")
	mkdir -p "$d/DEBIAN" "$d/usr/sbin"
	cp "$bin" "$d/usr/sbin/loaxa-node"
	chmod 0755 "$d/usr/sbin/loaxa-node"
	printf 'Package: %s\nVersion: %s\nArchitecture: %s\nMaintainer: loaxa tests <tests@example.invalid>\nDescription: loaxa node (test build)\n' \
		"$pkg" "$v" "$arch" >"$d/DEBIAN/control"
	dpkg-deb --root-owner-group -Zgzip -z1 --build "$d" "$out" >/dev/null 2>"$T/dpkg-deb.log" ||
		{ dump_log "$T/dpkg-deb.log"; return 1; }
	rm -rf "$d"
}
printf '#!/bin/sh\necho "loaxa-node (broken test build): exiting at once" >&2\nexit 1\n' >"$T/broken-node"
mkdeb "$T/v2.deb" "$V2" "$V2_DIR/loaxa-node" || { not_ok "dpkg-deb builds the test packages"; exit 1; }
mkdeb "$T/v1.deb" "$V1" "$NODE"
mkdeb "$T/tampered.deb" "$V2+t" "$V2_DIR/loaxa-node"
mkdeb "$T/broken.deb" "$V2+broken" "$T/broken-node"
mkdeb "$T/other.deb" 1.0 "$T/broken-node" other-package
ok "test packages: $V2, $V1, a tampered one, one that exits at once, another package"

# ---------------------------------------------------------------- the node
start_broker || exit 1
keygen || exit 1
write_controller_cfg
start_controller || exit 1
STATUS_INTERVAL=2 write_node_cfg n1 thon-1
mkdir -p "$T/n1/bin"
cp "$NODE" "$T/n1/bin/loaxa-node"
cat >>"$T/n1/node.cfg" <<EOF
update = { run = "spawn"; backend = "dir"; installer = "$LOAXA_BIN/loaxa-node-update";
  binary = "bin/loaxa-node"; confirm_s = $CONFIRM_S; quiet_min = 10; };
EOF
: >"$T/n1/env"

# The supervisor: runs bin/loaxa-node again whenever it exits (1 s apart,
# systemd's RestartSec), with the environment in $T/n1/env, until told to stop.
supervise() {
	while [ ! -e "$T/n1/supervisor.stop" ]; do
		# shellcheck disable=SC2046
		env XDG_CONFIG_HOME="$T/n1/xdg" $(cat "$T/n1/env") \
			"$T/n1/bin/loaxa-node" -c "$T/n1/node.cfg" -v >>"$T/n1/node.log" 2>&1
		echo "loaxa-node exited with status $?" >>"$T/n1/supervisor.log"
		sleep 1
	done
}
supervise &
SUP=$!
LOG_OF[n1]=$T/n1/node.log
node_pid() { pgrep -P "$SUP" -x loaxa-node; }
stop_supervised() {
	local p
	touch "$T/n1/supervisor.stop"
	p=$(node_pid)
	[ -n "$p" ] && kill -TERM "$p" 2>/dev/null
	wait "$SUP" 2>/dev/null
	SUP=
}
cleanup_update() {
	[ -n "${SUP:-}" ] && stop_supervised
	# an installer this test stopped (test hook) and did not kill
	if [ -f "$T/n1/state/update/paused" ]; then
		kill -KILL "$(awk '{print $2}' "$T/n1/state/update/paused")" 2>/dev/null
	fi
}
trap 'cleanup_update; lib_cleanup' EXIT
wait_for 30 node_online n1 || { fail "node n1 starts (supervised) and is online"; exit 1; }

version_is() { node_json n1 | jq -e --arg v "$1" '.online == true and .version == $v' >/dev/null; }
update_is() { # FILTER on the node's status "update"
	node_json n1 | jq -e ".status.update | $1" >/dev/null
}
rejected() { node_json n1 | jq -r ".status.rejected.$1 // 0"; }
v1_arch() { node_json n1 | jq -e --arg v "$V1" --arg a "$ARCH" '.version == $v and .status.arch == $a' >/dev/null; }
check "n1 runs $V1 and reports its architecture ($ARCH)" wait_for 10 v1_arch

# ---------------------------------------------------------------- refusals at the controller
"$LOAXA" node update n1 "$T/n1/node.cfg" >"$T/notdeb.out" 2>&1
check "a file that is no Debian package is refused (exit 1)" [ $? = 1 ]
check "... saying it is not a Debian package" grep -q 'not a Debian package' "$T/notdeb.out"
"$LOAXA" node update n1 "$T/other.deb" >"$T/other.out" 2>&1
check "another package (other-package) is refused (exit 1)" [ $? = 1 ]
check "... saying it is not a loaxa node package" grep -q 'not a loaxa node package' "$T/other.out"
truncate -s 65M "$T/big.deb"
"$LOAXA" node update n1 "$T/big.deb" >"$T/big.out" 2>&1
check "a file over 64 MiB is refused (exit 1), saying so" \
	bash -c "[ $? = 1 ] && grep -q 'too large' '$T/big.out'" || sed 's/^/#   /' "$T/big.out"
rm -f "$T/big.deb"
"$LOAXA" node update nobody "$T/v2.deb" >"$T/nobody.out" 2>&1
check "an unknown node is refused, naming it" grep -q 'no node "nobody"' "$T/nobody.out"

# ---------------------------------------------------------------- signed for another node
wt_before=$(rejected wrong_target)
SHA2=$(sha256sum "$T/v2.deb" | cut -d' ' -f1)
printf '{"cmd":"update","to":"node/n1/cmd","id":"c-1-x1","node":"n2","version":"%s","arch":"%s","content":"%s","bytes":%d}' \
	"$V2" "$ARCH" "$SHA2" "$(stat -c %s "$T/v2.deb")" |
	"$SEALCMD" --key "$T/keys/controller.key" --site "$SITE" --type cmd >"$T/other-node.env"
mosquitto_pub -h 127.0.0.1 -p "$BROKER_PORT" -q 1 -t "loaxa/$SITE/node/n1/cmd" -f "$T/other-node.env"
other_refused() { grep -q 'refused update command on .*: it is for node n2' "$T/n1/node.log"; }
check "n1 refuses a signed update whose body names n2" wait_for 10 other_refused
counted() { [ "$(rejected wrong_target)" -gt "$wt_before" ]; }
check "... and counts it as wrong_target" wait_for 10 counted
check "... and installs nothing (no request for the installer)" [ ! -e "$T/n1/state/update/request.json" ]

# ---------------------------------------------------------------- tampered package
SHAT=$(sha256sum "$T/tampered.deb" | cut -d' ' -f1)
mkdir -p "$T/controller/state/content"
cp "$T/tampered.deb" "$T/controller/state/content/$SHAT.opus"
# one byte changed in the middle of the controller's stored copy
printf 'X' | dd of="$T/controller/state/content/$SHAT.opus" bs=1 seek=$(( $(stat -c %s "$T/tampered.deb") / 2 )) conv=notrunc 2>/dev/null
"$LOAXA" node update n1 "$T/tampered.deb" >"$T/tampered.out" 2>&1
check "the tampered package is sent (the controller's copy is altered behind its back)" \
	grep -q 'n1 .*update sent' "$T/tampered.out"
check "n1 finds the SHA-256 mismatch and refuses it (outcome failed)" \
	wait_for 60 update_is '.state == "done" and .outcome == "failed" and (.error | test("SHA-256"))'
check "the old version keeps running ($V1, same supervisor run)" version_is "$V1"
check "the installer was never asked" [ ! -e "$T/n1/state/update/journal.json" ]

# ---------------------------------------------------------------- no quiet moment: waits
sox -n -r 48000 -c 1 -b 16 "$T/clip.wav" synth 0.3 sine 880 2>/dev/null
CONTENT=$("$LOAXA" import "$T/clip.wav" 2>/dev/null | grep -oE '[0-9a-f]{64}' | head -n1)
api_curl -H 'Content-Type: application/json' \
	-d "{\"content\":\"$CONTENT\",\"node\":\"n1\",\"at\":$(( $(now_ms) + 120000 ))}" \
	http://loaxa/v1/broadcasts >/dev/null
queued_later() { grep -q 'queued broadcast .* in [0-9.]* s' "$T/n1/node.log"; }
wait_for 10 queued_later
"$LOAXA" node update n1 "$T/v2.deb" >"$T/v2.out" 2>&1
check "loaxa node update n1 v2.deb: sent (exit 0)" [ $? = 0 ] || sed 's/^/#   /' "$T/v2.out"
check "n1 waits: a broadcast is queued (state waiting, reason given)" \
	wait_for 60 update_is '.state == "waiting" and (.error | test("broadcast"))'
sleep 3
check "... and still runs $V1 meanwhile" version_is "$V1"
"$LOAXA" node show n1 >"$T/show-wait.txt" 2>&1
check "loaxa node show n1 says it waits for a quiet moment" \
	grep -q "^update .*waiting for a quiet moment" "$T/show-wait.txt"

# ... and a plan item within update.quiet_min (10 min): a plan signed here
# with the controller's key, one item 5 minutes ahead
plan() { # ITEMS_JSON
	local now
	now=$(now_ms)
	printf '{"node":"n1","generated":%s,"horizon":%s,"items":[%s]}' "$now" "$(( now + 3600000 ))" "$1" |
		"$SEALCMD" --key "$T/keys/controller.key" --site "$SITE" --type plan \
			--seq $(( $(date +%s%N) / 1000 + 10000000000000 )) --expires-in 3600000 >"$T/plan.env"
	mosquitto_pub -h 127.0.0.1 -p "$BROKER_PORT" -q 1 -r -t "loaxa/$SITE/node/n1/plan" -f "$T/plan.env"
}
plan "{\"id\":\"o-soon-1\",\"at\":$(( $(now_ms) + 300000 )),\"content\":\"$CONTENT\"}"
plan_in() { node_json n1 | jq -e '.status.plan.items == 1' >/dev/null; }
wait_for 20 plan_in
"$LOAXA" node stop n1 >/dev/null 2>&1
check "the queue emptied, n1 still waits: a plan item plays within 10 minutes" \
	wait_for 30 update_is '.state == "waiting" and (.error | test("plan item o-soon-1"))'
sleep 2
check "... still $V1" version_is "$V1"

# ---------------------------------------------------------------- good update
plan ""
check "once nothing is planned either, n1 installs and reports version $V2" wait_for 90 version_is "$V2"
check "... outcome ok" wait_for 30 update_is ".state == \"done\" and .outcome == \"ok\" and .version == \"$V2\""
check "the binary on disk is $V2" bash -c "\"$T/n1/bin/loaxa-node\" -V | grep -qx 'loaxa-node $V2'"
check "the previous version is kept in update/prev" \
	bash -c "\"$T/n1/state/update/prev/loaxa-node\" -V | grep -qx 'loaxa-node $V1'"
check "the node re-executed itself: the supervisor saw no exit" [ ! -s "$T/n1/supervisor.log" ]
"$LOAXA" node show n1 >"$T/show-ok.txt" 2>&1
check "loaxa node show n1: installed and running" grep -q "^update .*to $V2: installed and running" "$T/show-ok.txt"
update_event() { "$LOAXA" log --node n1 --type update_finished --json 2>/dev/null | jq -e ".events[] | select(.reason | contains(\"version $V2 installed and running\"))" >/dev/null; }
check "an update_finished event reached the controller's log" wait_for 20 update_event
"$LOAXA" node update n1 "$T/v2.deb" >"$T/same.out" 2>&1
check "sending $V2 again is skipped: the node runs it" grep -q 'not sent: it runs this version' "$T/same.out"

# ---------------------------------------------------------------- a version that does not start
# ... sent during an emergency: it waits for the emergency to end
if LOAXA="$LOAXA" "$ROOT/scripts/emergency-clips.sh" --only tone flood >"$T/clips.log" 2>&1; then
	ok "scripts/emergency-clips.sh makes the tone and flood clips"
else
	not_ok "scripts/emergency-clips.sh makes the clips"
	sed 's/^/#   /' "$T/clips.log"
fi
SET=$("$LOAXA" emergency clips --json | jq -r .set)
clips_ready() { node_json n1 | jq -e --arg s "$SET" '.status.emergency.clips_set == $s and ([.status.emergency.clips[]] | all)' >/dev/null; }
wait_for 60 clips_ready
"$LOAXA" emergency start --clip flood --node n1 --max 300s --timeout 10 >"$T/em-start.out" 2>&1
emergency_on() { node_json n1 | jq -e '.status.emergency.active != null' >/dev/null; }
check "an emergency sounds on n1" wait_for 20 emergency_on || sed 's/^/#   /' "$T/em-start.out"
"$LOAXA" node update n1 "$T/broken.deb" >"$T/broken.out" 2>&1
check "loaxa node update n1 broken.deb: sent" [ $? = 0 ]
check "n1 fetches it and waits: an emergency is active" \
	wait_for 60 update_is '.state == "waiting" and (.error | test("emergency"))'
sleep 3
check "... nothing installed during the emergency ($V2 runs)" version_is "$V2"
"$LOAXA" emergency stop --timeout 10 >"$T/em-stop.out" 2>&1
broken_ran() { grep -q 'broken test build' "$T/n1/node.log"; }
check "the broken version was installed and started (and exits)" wait_for 60 broken_ran
check "after update.confirm_s ($CONFIRM_S s) the installer rolls back; $V2 runs again" \
	wait_for $(( CONFIRM_S + 60 )) version_is "$V2"
check "... and reports outcome rolled_back, saying why" \
	wait_for 30 update_is '.outcome == "rolled_back" and (.error | test("did not come online"))'
check "the binary on disk is $V2 again" bash -c "\"$T/n1/bin/loaxa-node\" -V | grep -qx 'loaxa-node $V2'"
"$LOAXA" node show n1 >"$T/show-rb.txt" 2>&1
check "loaxa node show n1: FAILED, previous version put back" grep -q "^update .*FAILED, previous version put back" "$T/show-rb.txt"

# ---------------------------------------------------------------- kill -9 in the middle of the install
echo "LOAXA_UPDATE_TEST_PAUSE=swap" >"$T/n1/env"
p=$(node_pid)
kill -TERM "$p"
restarted() { q=$(node_pid); [ -n "$q" ] && [ "$q" != "$p" ] && node_online n1; }
wait_for 30 restarted
"$LOAXA" node update n1 "$T/v1.deb" >"$T/v1.out" 2>&1
check "loaxa node update n1 v1.deb ($V1): sent" [ $? = 0 ]
paused() { [ -s "$T/n1/state/update/paused" ]; }
check "the installer reaches the swap (new binary written beside the old one)" wait_for 90 paused
IPID=$(awk '{print $2}' "$T/n1/state/update/paused")
check "... its journal says installing" \
	jq -e '.step == "installing"' "$T/n1/state/update/journal.json"
: >"$T/n1/env"
kill -KILL "$IPID" 2>/dev/null
p=$(node_pid)
kill -KILL "$p"   # the power cut: node and installer gone at once
rm -f "$T/n1/state/update/paused"
check "after the power cut the node comes back" wait_for 60 restarted
check "... the interrupted install is rolled back: outcome rolled_back, interrupted" \
	wait_for 60 update_is ".version == \"$V1\" and .outcome == \"rolled_back\" and (.error | test(\"interrupted\"))"
check "... it runs $V2, the version before, whole" version_is "$V2"
check "the binary on disk is $V2 and no half-written file is left" \
	bash -c "\"$T/n1/bin/loaxa-node\" -V | grep -qx 'loaxa-node $V2' && [ ! -e \"$T/n1/bin/loaxa-node.loaxa-new\" ]"
check "no request is left for the installer" [ ! -e "$T/n1/state/update/request.json" ]

# ---------------------------------------------------------------- kill -9 while the new version is on trial
echo "LOAXA_UPDATE_TEST_PAUSE=installed" >"$T/n1/env"
p=$(node_pid)
kill -TERM "$p"
wait_for 30 restarted
"$LOAXA" node update n1 "$T/v1.deb" >"$T/v1b.out" 2>&1
check "loaxa node update n1 v1.deb again: sent" [ $? = 0 ]
check "the installer reaches step installed (the new version on disk)" wait_for 90 paused
IPID=$(awk '{print $2}' "$T/n1/state/update/paused")
check "n1 starts $V1 on trial" wait_for 60 version_is "$V1"
: >"$T/n1/env"
kill -KILL "$IPID" 2>/dev/null
p=$(node_pid)
kill -KILL "$p"   # a power cut while the new version is on trial
rm -f "$T/n1/state/update/paused"
check "after the power cut the node comes back" wait_for 60 restarted
check "... $V1 confirms to the installer started again: outcome ok" \
	wait_for 60 update_is ".version == \"$V1\" and .outcome == \"ok\""
check "... it runs $V1, whole (binary on disk and status agree)" \
	bash -c "\"$T/n1/bin/loaxa-node\" -V | grep -qx 'loaxa-node $V1' && [ ! -e \"$T/n1/bin/loaxa-node.loaxa-new\" ]"
check "... and the status says $V1" version_is "$V1"

stop_supervised
check "the supervised node stopped cleanly at the end" \
	bash -c "tail -n1 \"$T/n1/supervisor.log\" | grep -q 'status 0'"
if grep -Eq 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$T/n1/node.log"; then
	not_ok "n1: sanitizer report in its log"
	grep -E -A15 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$T/n1/node.log" | head -40 | sed 's/^/#   /'
fi
[ "$TEST_FAILED" = 0 ] || dump_log "$T/n1/node.log" 60
stop_all_checked
finish
