#!/bin/bash
# The node's disk fills up during a download (issue 17, point 6): its state
# directory is a small tmpfs, nearly full, and a new announcement's content
# does not fit. The node says so in words (content_failed with the reason,
# its log), stays up, and what it already holds still plays: the old
# content, broadcast again, and its plan.
source "$(dirname "$0")/../lib.sh"
need "$LOAXA" "$CONTROLLER" "$NODE"
[ "$(id -u)" = 0 ] || { not_ok "the test mounts a tmpfs (root)"; exit 1; }

start_broker || exit 1
keygen || exit 1
write_controller_cfg
start_controller || exit 1
write_node_cfg n1 thon-1
STATE=$T/n1/state
mkdir -p "$STATE"
mount -t tmpfs -o size=1536k tmpfs "$STATE" || { not_ok "mount a 1.5 MB tmpfs for the node's state"; exit 1; }
unmount_state() { umount "$STATE" 2>/dev/null; }
trap 'rc=$?; stop n1 TERM; unmount_state; (exit $rc); lib_cleanup' EXIT
start_node n1 || exit 1

speech "$T/old.wav" "Thông báo cũ vẫn phát được." || exit 1
capture_mark n1
"$LOAXA" play "$T/old.wav" --node n1 --wait=60 --json >"$T/old.json" 2>"$T/old.err"
check "an announcement plays while the disk has room" capture_nonsilent_since n1
OLD=$(jq -r .content "$T/old.json")

# fill the disk but ~100 KB, then send three minutes of speech (~0.5 MB)
avail=$(df -k --output=avail "$STATE" | tail -1)
dd if=/dev/zero of="$STATE/filler" bs=1k count=$(( avail - 100 )) 2>/dev/null
diag "node state: $(df -h --output=size,used,avail "$STATE" | tail -1)"
speech "$T/one.wav" "Thông báo mới dài của ủy ban nhân dân xã." || exit 1
sox "$T/one.wav" "$T/big.wav" repeat "$(awk -v d="$(soxi -D "$T/one.wav")" 'BEGIN { printf "%d", 180 / d }')"
"$LOAXA" play "$T/big.wav" --node n1 --json >"$T/big.json" 2>"$T/big.err"
B=$(jq -r '.broadcast // empty' "$T/big.json")
failed_with_reason() {
	"$LOAXA" plays --json 2>/dev/null | jq -e --arg b "$B" \
		'.plays[] | select(.node == "n1" and (.type == "content_failed" or (.type == "play_failed" and .broadcast == $b)))' \
		>"$T/failed.json"
}
check "the node reports that the new content could not be stored" wait_for 30 failed_with_reason
diag "reported: $(jq -c '{type, reason}' "$T/failed.json" 2>/dev/null | head -2 | tr '\n' ' ')"
check "the reason says the disk is full" grep -qiE 'space|full' "$T/failed.json"
check "the node's log says the disk is full" grep -qiE 'no space|disk is full|space left' "$T/n1/node.log" ||
	grep -iE 'error|warn' "$T/n1/node.log" | tail -5 | sed 's/^/#   /'
check "the node is still running" alive "${PID_OF[n1]}"
check "no partial file of the new content is left taking the space" \
	bash -c "! ls '$STATE'/cache/*.part >/dev/null 2>&1 || [ \$(du -k '$STATE/cache' | tail -1 | cut -f1) -lt 600 ]"

capture_mark n1
"$LOAXA" play "$OLD" --node n1 --wait=60 >"$T/old2.out" 2>&1
check "the old content still plays with the disk full" [ $? = 0 ]
check "... and sound comes out" capture_nonsilent_since n1

rm -f "$STATE/filler"
capture_mark n1
"$LOAXA" play "$T/big.wav" --node n1 --wait=90 >"$T/big2.out" 2>&1
check "once there is room again, the new content arrives and plays" [ $? = 0 ] || dump_log "$T/big2.out"

stop_all_checked
finish
