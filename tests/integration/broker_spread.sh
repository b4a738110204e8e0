#!/bin/bash
# Fifty nodes and a broker that dies (issue 13). After a broker restart,
# hundreds of nodes must not all come back in the same instant: every
# reconnect delay is drawn between half and all of its value (common/mqlink.c)
# so that the broker and the controller see a spread of connections, not a
# wall. This test starts NODES_N nodes (default 50) against the TLS broker of
# `loaxa broker-config`, gives them a plan, kills the broker with -9 for
# DOWN_S seconds, starts it again and records when each node has both its
# connections back (its log, polled every 50 ms). It checks:
#   - the reconnections are spread over time: the busiest second holds fewer
#     than all nodes, and the first and last are at least SPREAD_MIN_MS apart;
#   - every node is back within RECONNECT_S s of the broker's return (the
#     probe retries at most every 4 s while the port refuses; docs/operations.md);
#   - every node is online again at the controller and on its plan (`loaxa
#     readiness` lists nothing missing);
# and every daemon stops cleanly. The spread is printed as "# ..." lines.
SECURE=1
source "$(dirname "$0")/../lib.sh"
need "$LOAXA" "$CONTROLLER" "$NODE"

NODES_N=${NODES_N:-50}
DOWN_S=${DOWN_S:-5}
RECONNECT_S=${RECONNECT_S:-20}
SPREAD_MIN_MS=${SPREAD_MIN_MS:-1000}
TZ_SITE=Asia/Ho_Chi_Minh
START_TIMEOUT=120

start_broker || exit 1
keygen || exit 1
write_controller_cfg "timezone = \"$TZ_SITE\";"
start_controller || exit 1
NODES=()
for ((i = 1; i <= NODES_N; i++)); do
	NODES+=("s$i")
	NO_RELOAD=1 write_node_cfg "s$i" "thon-$(( (i - 1) % 5 + 1 ))" || exit 1
done
reload_broker
for n in "${NODES[@]}"; do NO_WAIT_ONLINE=1 start_node "$n" || exit 1; done
online_count() {
	"$LOAXA" nodes --json 2>/dev/null | jq '[.nodes[] | select(.online == true)] | length'
}
all_online() { [ "$(online_count)" -ge "$NODES_N" ]; }
check "$NODES_N nodes are up on the TLS broker and online at the controller" \
	wait_for 180 all_online || diag "online: $(online_count)"

# every node gets a plan: an announcement to every zone two hours ahead
speech "$T/a.wav" "Thông báo: họp thôn lúc bảy giờ tối." || exit 1
AT=$(TZ=$TZ_SITE date -d "@$(( $(now_ms) / 1000 + 7200 ))" '+%Y-%m-%d %H:%M')
"$LOAXA" announce "$T/a.wav" --at "$AT" --all --title "họp thôn" >"$T/announce.log" 2>&1 ||
	{ fail "loaxa announce --all"; dump_log "$T/announce.log"; exit 1; }
readiness_clean() {
	"$LOAXA" readiness --json >"$T/ready.json" 2>/dev/null &&
		jq -e '.missing | length == 0' "$T/ready.json" >/dev/null
}
check "every node is on its plan before the outage (loaxa readiness: nothing missing)" \
	wait_for 120 readiness_clean || jq -c '.missing[:3]' "$T/ready.json" | sed 's/^/#   /'

# counts NAME=N for every node log, one grep for all of them
LOGS=()
for n in "${NODES[@]}"; do LOGS+=("$T/$n/node.log"); done
conn_counts() {
	grep -c 'connected to the MQTT broker' "${LOGS[@]}" 2>/dev/null |
		sed "s|^$T/||; s|/node.log:|=|"
}
declare -A before=() back_at=()
while IFS='=' read -r n c; do before[$n]=$c; done < <(conn_counts)

stop broker KILL
diag "broker killed with SIGKILL, down for $DOWN_S s"
sleep "$DOWN_S"
start_broker broker "${PORT_OF[broker]}" || { fail "the broker restarts"; exit 1; }
T_BACK=$(now_ms)

# poll until every node has both connections back, or the deadline
deadline=$(( T_BACK + RECONNECT_S * 1000 ))
while [ "${#back_at[@]}" -lt "$NODES_N" ] && [ "$(now_ms)" -lt "$deadline" ]; do
	now=$(now_ms)
	while IFS='=' read -r n c; do
		[ -n "${back_at[$n]:-}" ] && continue
		[ "$c" -ge $(( ${before[$n]:-0} + 2 )) ] && back_at[$n]=$(( now - T_BACK ))
	done < <(conn_counts)
	sleep 0.05
done
check "all $NODES_N nodes reconnected both connections within $RECONNECT_S s of the broker's return (${#back_at[@]})" \
	[ "${#back_at[@]}" -eq "$NODES_N" ]

if [ "${#back_at[@]}" -gt 0 ]; then
	printf '%s\n' "${back_at[@]}" | sort -n >"$T/back.txt"
	first=$(head -1 "$T/back.txt") last=$(tail -1 "$T/back.txt")
	median=$(awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }' "$T/back.txt")
	busiest=$(awk '{ c[int($1 / 1000)]++ } END { m = 0; for (s in c) if (c[s] > m) m = c[s]; print m }' "$T/back.txt")
	diag "reconnected after the broker answered: first $first ms, median $median ms, last $last ms"
	diag "nodes back per second after the broker answered: $(awk '{ c[int($1 / 1000)]++ } END { for (s = 0; s <= 30; s++) if (c[s]) printf "%ds:%d ", s, c[s] }' "$T/back.txt")"
	check "the reconnections are spread: the busiest second holds $busiest of $NODES_N nodes (fewer than all)" \
		[ "$busiest" -lt "$NODES_N" ]
	check "the reconnections are spread over $(( last - first )) ms (>= $SPREAD_MIN_MS ms)" \
		[ $(( last - first )) -ge "$SPREAD_MIN_MS" ]
fi

check "every node is online again at the controller" wait_for 60 all_online ||
	diag "online: $(online_count)"
check "every node is on its plan after the outage (loaxa readiness: nothing missing)" \
	wait_for 60 readiness_clean || jq -c '.missing[:3]' "$T/ready.json" | sed 's/^/#   /'
for n in controller "${NODES[@]}"; do
	alive "${PID_OF[$n]}" || fail "$n is alive after the outage"
done

stop_all_checked
finish
