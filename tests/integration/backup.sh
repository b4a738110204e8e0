#!/bin/bash
# loaxa backup / loaxa restore (issue 17, point 4), on a controller with
# content, a schedule (plans), a broker with a provisioned node and a month
# of plays:
#   - `loaxa backup` while the controller runs writes one archive, mode
#     0600, holding the database, the configuration, the keys, the broker's
#     accounts and the content;
#   - `loaxa restore` refuses while the controller runs, refuses to replace
#     an existing database without --force, refuses archives holding other
#     names (../, absolute paths, links) or a configuration naming other
#     places than this machine's, without writing anything;
#   - after the state, the keys and the content are lost, a restore brings
#     back the same monthly report, content list, schedule, plays and keys,
#     and the node (which was never touched) plays the restored controller's
#     next broadcast: it is the same controller to it.
SECURE=1
source "$(dirname "$0")/../lib.sh"
need "$LOAXA" "$CONTROLLER" "$NODE"

TZ_SITE=Asia/Ho_Chi_Minh
start_broker || exit 1
keygen || exit 1
write_controller_cfg "timezone = \"$TZ_SITE\";"
CFG=$T/controller/controller.cfg
STATE=$T/controller/state
start_controller || exit 1
write_node_cfg n1 thon-1
start_node n1 || exit 1

speech "$T/a.wav" "Thông báo thứ nhất." || exit 1
speech "$T/b.wav" "Thông báo thứ hai." || exit 1
"$LOAXA" import "$T/b.wav" --title "hai" >/dev/null 2>&1
capture_mark n1
"$LOAXA" play "$T/a.wav" --node n1 --wait=60 >/dev/null 2>&1
check "a broadcast plays before the backup" capture_nonsilent_since n1
AT=$(TZ=$TZ_SITE date -d "@$(( $(now_ms) / 1000 + 86400 ))" '+%Y-%m-%d %H:%M')
"$LOAXA" announce "$T/b.wav" --at "$AT" --node n1 --title "ngày mai" >/dev/null 2>&1
# a schedule file with its audio beside it (the CLI sends both)
mkdir -p "$T/sched/audio"
cp "$T/a.wav" "$T/sched/audio/sang.wav"
cat >"$T/sched/week.cfg" <<'EOF'
items = ( { id = "sang"; title = "Buổi sáng"; content = "audio/sang.wav"; nodes = ["n1"];
            times = ["05:30"]; } );
EOF
"$LOAXA" schedule apply "$T/sched/week.cfg" >"$T/apply.out" 2>&1
check "a schedule file is applied before the backup" [ $? = 0 ] || dump_log "$T/apply.out"
# a month of plays (November 2026, Vietnam time), as the nodes reported them
{
	echo "BEGIN;"
	for ((d = 0; d < 30; d++)); do
		for ((k = 0; k < 10; k++)); do
			ts=$(( (1793466000 + d * 86400 + 3600 + k * 3600) * 1000 ))
			echo "INSERT INTO events (node, id, boot, type, ts, broadcast, content, start, duration_ms, reason, received) VALUES ('n1', 'syn-$d-$k', 1, 'play_finished', $ts, 'b-syn-$d-$k', '', $ts, 60000, 'finished', $ts);"
		done
	done
	echo "COMMIT;"
} | sqlite3 "$STATE/loaxa.db" || { fail "a month of plays is in the database"; exit 1; }

snapshot() { # DIR : what must survive
	mkdir -p "$1"
	"$LOAXA" report --month 2026-11 --json | jq -S . >"$1/report.json"
	"$LOAXA" content list --json | jq -S '[.content[] | {id, title, bytes}] | sort_by(.id)' >"$1/content.json"
	"$LOAXA" schedule list --date "$(echo "$AT" | cut -d' ' -f1)" --days 1 --json | jq -S '[.occurrences[] | {occurrence, at, item}]' >"$1/schedule.json"
	"$LOAXA" key list --json | jq -S . >"$1/keys.json"
	"$LOAXA" plays --json | jq -S '[.plays[] | {broadcast, node, type}] | sort_by(.broadcast, .type)' >"$1/plays.json"
	"$LOAXA" node list --json 2>/dev/null | jq -S . >"$1/nodes.json"
}
snapshot "$T/before"
check "the report of November 2026 holds the month of plays (300 played)" \
	jq -e '.clusters[] | select(.node == "n1") | .played == 300' "$T/before/report.json"

# ------------------------------------------------------------ backup
"$LOAXA" backup "$T/station.tar" --config "$CFG" >"$T/backup.out" 2>&1
check "loaxa backup exits 0 while the controller runs" [ $? = 0 ] || dump_log "$T/backup.out"
check "the archive is mode 0600" [ "$(stat -c %a "$T/station.tar")" = 600 ]
tar -tf "$T/station.tar" >"$T/list" 2>/dev/null
check "tar(1) reads the archive" [ -s "$T/list" ]
for e in controller.cfg loaxa.db keys/controller.key keys/controller.pub broker/ca.crt broker/passwd; do
	check "the archive holds $e" grep -qx "$e" "$T/list"
done
check "the archive does not hold the broker's mosquitto.conf (this machine's own)" \
	bash -c "! grep -qx broker/mosquitto.conf '$T/list'"
check "the archive holds the content ($(grep -c '^content/' "$T/list") files)" \
	[ "$(grep -c '^content/' "$T/list")" -eq "$(jq length "$T/before/content.json")" ]
check "the archive holds the schedule file as applied (schedules/01-week.cfg)" \
	bash -c "tar -xOf '$T/station.tar' schedules/01-week.cfg | cmp -s - '$T/sched/week.cfg'"
diag "archive: $(stat -c %s "$T/station.tar") bytes, $(wc -l <"$T/list") files"

# ------------------------------------------------------------ refusals
"$LOAXA" restore "$T/station.tar" --config "$CFG" --force >"$T/r0.out" 2>&1
check "restore refuses while the controller runs" [ $? != 0 ]
check "... and says why" grep -q "a controller is running" "$T/r0.out" || dump_log "$T/r0.out"
stop_checked controller
"$LOAXA" restore "$T/station.tar" --config "$CFG" >"$T/r1.out" 2>&1
rc=$?
check "restore refuses to replace an existing database without --force" [ "$rc" != 0 ]
check "... naming it" grep -q "loaxa.db exists" "$T/r1.out" || dump_log "$T/r1.out"

mkdir -p "$T/evil/keys"
cp "$CFG" "$T/evil/controller.cfg"
echo x >"$T/evil/keys/controller.key.x"
tar -C "$T/evil" -cf "$T/evil1.tar" controller.cfg --transform 's,^keys/,../../,' keys/controller.key.x 2>/dev/null
ln -s /etc/passwd "$T/evil/keys/controller.key.lnk"
tar -C "$T/evil" -cf "$T/evil2.tar" controller.cfg keys/controller.key.lnk
tar -C "$T/evil" -cf "$T/evil3.tar" -P "$T/evil/controller.cfg" "$T/evil/keys/controller.key.x" 2>/dev/null
# a mosquitto.conf that would make the broker load a plugin of the archive's choosing
mkdir -p "$T/evil/broker" && echo 'plugin /tmp/evil.so' >"$T/evil/broker/mosquitto.conf"
tar -C "$T/evil" -cf "$T/evil5.tar" controller.cfg broker/mosquitto.conf
for i in 1 2 3 5; do
	# 5 goes against this machine's real configuration, so that only the
	# broker file can be what is refused
	cfg=$T/evil-restored.cfg
	[ "$i" = 5 ] && cfg=$CFG
	"$LOAXA" restore "$T/evil$i.tar" --config "$cfg" --force >"$T/e$i.out" 2>&1
	rc=$?
	check "a hostile archive ($i: $(tar -tvf "$T/evil$i.tar" 2>/dev/null | tail -1 | awk '{ print $1, $NF }')) is refused" [ "$rc" != 0 ]
	grep -h 'restore' "$T/e$i.out" | head -1 | sed 's/^/#   /'
done
# an archive whose configuration points elsewhere (state_dir = "/etc"...)
sed 's|^state_dir = .*|state_dir = "'"$T"'/elsewhere";|' "$CFG" >"$T/evil/controller.cfg"
cp "$STATE/loaxa.db" "$T/evil/loaxa.db"
tar -C "$T/evil" -cf "$T/evil4.tar" controller.cfg loaxa.db
"$LOAXA" restore "$T/evil4.tar" --config "$CFG" --force >"$T/e4.out" 2>&1
rc=$?
check "an archive whose configuration names other places is refused (the places come from this machine's configuration)" \
	[ "$rc" != 0 ]
grep -h 'restore' "$T/e4.out" | head -1 | sed 's/^/#   /'
check "... the mosquitto.conf one for that very entry" grep -q 'broker/mosquitto.conf.*refused' "$T/e5.out"
check "nothing a hostile archive named was written" \
	bash -c "[ ! -e '$T/controller.key.x' ] && [ ! -e '$T/evil-restored.cfg' ] && [ ! -e '$T/elsewhere' ] && ! ls '$T'/*.tmp.* >/dev/null 2>&1"

# ------------------------------------------------------------ lose everything, restore
rm -rf "$STATE" "$T/keys"
"$LOAXA" restore "$T/station.tar" --config "$CFG" >"$T/restore.out" 2>&1
check "loaxa restore puts the backup back (state and keys gone)" [ $? = 0 ] || dump_log "$T/restore.out"
check "the restored key is mode 0600" [ "$(stat -c %a "$T/keys/controller.key")" = 600 ]
check "the restored database holds the applied schedule file" \
	[ "$(sqlite3 "$STATE/loaxa.db" 'SELECT text FROM sched_files')" = "$(cat "$T/sched/week.cfg")" ]
start_controller || exit 1
snapshot "$T/after"
for f in report content schedule keys plays nodes; do
	check "after the restore, the $f is as before" cmp -s "$T/before/$f.json" "$T/after/$f.json" ||
		diff "$T/before/$f.json" "$T/after/$f.json" | head -10 | sed 's/^/#   /'
done
check "n1 is online with the restored controller" wait_for 40 node_online n1
capture_mark n1
"$LOAXA" play "$T/a.wav" --node n1 --wait=60 >"$T/play2.out" 2>&1
check "the node plays the restored controller's broadcast" [ $? = 0 ] || dump_log "$T/play2.out"
check "... and sound comes out" capture_nonsilent_since n1

stop_all_checked
finish
