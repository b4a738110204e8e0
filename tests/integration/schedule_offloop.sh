#!/bin/bash
# Schedule files are parsed off the controller's loop (issue 14, point 8;
# docs/schedules.md "Limits"). libconfig's time grows with the square of
# the input, so a file under schedule.max_file_bytes can still take seconds;
# the parse runs in a worker thread and the loop keeps answering:
#   - a file that takes over a second to check (from 1 MiB, grown by half
#     until it does, so a faster machine still shows it; the test raises
#     schedule.max_file_bytes to 32 MiB for that) is checked, and applied,
#     as usual;
#   - while it is parsed, GET /v1/nodes, GET /v1/readiness and an emergency
#     (POST /v1/emergency) are answered at once (on a controller that parses
#     in its loop they wait for the whole parse);
#   - the apply is stored; a client that leaves mid-parse changes nothing;
#   - SIGTERM during a parse: the controller waits for the parser and exits
#     cleanly.
source "$(dirname "$0")/../lib.sh"
need "$LOAXA" "$CONTROLLER" "$NODE"

LIMIT=$((32 << 20))
# the longest a cheap request may wait while a file is parsed
BOUND_MS=${BOUND_MS:-700}
start_broker || exit 1
keygen || exit 1
write_controller_cfg "schedule = { max_file_bytes = $LIMIT; };"
start_controller || exit 1
write_node_cfg n1 thon-1
start_node n1 || exit 1
SOCK=$LOAXA_SOCKET
TOK=$(cat "$LOAXA_TOKEN_FILE")
# api METHOD PATH [BODY] [OUT] : HTTP status; body in OUT (default $T/resp.json)
api() {
	local args=(-s -o "${4:-$T/resp.json}" -w '%{http_code}' --unix-socket "$SOCK"
		    -X "$1" -H "Authorization: Bearer $TOK")
	[ -n "${3:-}" ] && args+=(-H 'Content-Type: application/json' --data-binary "$3")
	curl "${args[@]}" "http://localhost$2"
}

# big FILE SIZE : a valid schedule file of one relay item, padded with one
# comment line to SIZE bytes (1 MiB of it: 0.7-2.5 s of libconfig under ASan)
big() {
	{
		printf 'items = ( { id = "tin-sang"; source = "url:http://127.0.0.1:9/tin";\n'
		printf '  length_min = 5; zones = ["all"]; times = ["05:30"]; } );\n'
		head -c $(( $2 - 120 )) /dev/zero | tr '\0' '#'
		printf '\n'
	} >"$1"
}

# jqf FILTER FILE : jq -e, quietly; the file's head as a diagnostic when false
jqf() { jq -e "$1" "$2" >/dev/null 2>&1 || { diag "$(head -c 600 "$2" 2>/dev/null)"; false; }; }

# timed METHOD PATH : "CODE MS" of one request
timed() {
	curl -s -o /dev/null -w '%{http_code} %{time_total}\n' --unix-socket "$SOCK" -X "$1" \
		-H "Authorization: Bearer $TOK" "http://localhost$2" |
		awk '{ printf "%s %d\n", $1, $2 * 1000 }'
}
# answered CODE MS : HTTP 200 within the bound
answered() { [ "$1" = 200 ] && [ "$2" -lt "$BOUND_MS" ]; }

# the file: at least 1.2 s to check here (grown by half until it is)
size=$((1 << 20))
while :; do
	big "$T/big.cfg" "$size"
	sched_body "$T/big.cfg" >"$T/big.json"
	t0=$(now_ms)
	api POST /v1/schedule/check "@$T/big.json" >/dev/null
	parse_ms=$(( $(now_ms) - t0 ))
	diag "a check of $size bytes took $parse_ms ms"
	[ "$parse_ms" -ge 1200 ] || [ "$size" -ge $((LIMIT / 2)) ] && break
	size=$((size * 3 / 2))
done
check "a check of a $size-byte file takes $parse_ms ms (at least 1.2 s: long enough to show a stall)" \
	[ "$parse_ms" -ge 1200 ]
check "... and passes" jqf '.ok == true and (.items | length == 1)' "$T/resp.json"

# an emergency to sound meanwhile (stored content: the request is the loop's only)
sox -n -r 22050 -c 1 "$T/alarm.wav" synth 1 sine 800 gain -6
EM_CONTENT=$("$LOAXA" import "$T/alarm.wav" 2>/dev/null)
check "an alarm is imported for the emergency ($EM_CONTENT)" [ "${#EM_CONTENT}" = 64 ]
# emergency : "CODE MS" of POST /v1/emergency (thon-1, 10 s at most)
emergency() {
	curl -s -o "$T/em.json" -w '%{http_code} %{time_total}\n' --unix-socket "$SOCK" -X POST \
		-H "Authorization: Bearer $TOK" -H 'Content-Type: application/json' \
		--data "{\"content\":\"$EM_CONTENT\",\"zone\":\"thon-1\",\"max_s\":10}" \
		http://localhost/v1/emergency | awk '{ printf "%s %d\n", $1, $2 * 1000 }'
}

# during a check, then during an apply: cheap requests meanwhile
for what in check apply; do
	t0=$(now_ms)
	api POST "/v1/schedule/$what" "@$T/big.json" "$T/$what.json" \
		>"$T/$what.code" &
	cpid=$!
	sleep 0.15 # the request is in and its parse under way
	# both at once: "CODE MS" of each (curl's own timing)
	timed GET /v1/nodes >"$T/nodes.t" &
	npid=$!
	timed GET /v1/readiness >"$T/ready.t" &
	rpid=$!
	[ "$what" = check ] && emergency >"$T/em.t" &
	epid=$!
	wait "$npid" "$rpid" "$epid" "$cpid"
	read -r c_nodes ms_nodes <"$T/nodes.t"
	read -r c_ready ms_ready <"$T/ready.t"
	total=$(( $(now_ms) - t0 ))
	diag "$what: GET /v1/nodes $ms_nodes ms, GET /v1/readiness $ms_ready ms, the $what itself $total ms"
	if [ "$what" = check ]; then
		read -r c_em ms_em <"$T/em.t"
		diag "emergency during the check: HTTP $c_em in $ms_em ms: $(head -c 300 "$T/em.json")"
		check "during the check, an emergency (POST /v1/emergency) is answered in $ms_em ms (HTTP $c_em, under $BOUND_MS ms)" \
			bash -c "[ '$c_em' = 201 ] && [ '$ms_em' -lt '$BOUND_MS' ]"
	fi
	check "during a $what of $total ms, GET /v1/nodes is answered in $ms_nodes ms (under $BOUND_MS ms)" \
		answered "$c_nodes" "$ms_nodes"
	check "... and GET /v1/readiness in $ms_ready ms (under $BOUND_MS ms)" \
		answered "$c_ready" "$ms_ready"
	check "... and the $what is answered after them: HTTP $(cat "$T/$what.code")" \
		[ "$(cat "$T/$what.code")" = 200 ]
	check "... ok" jqf '.ok == true' "$T/$what.json"
done
check "the apply is stored (the controller logs \"schedule applied: 1 item\")" \
	grep -q 'schedule applied: 1 item,' "$T/controller/controller.log"

# a client that gives up during the parse: its answer is dropped when the
# parse ends (the request is an orphan by then), nothing else changes
curl -s -o /dev/null --max-time 0.3 --unix-socket "$SOCK" -X POST \
	-H "Authorization: Bearer $TOK" -H 'Content-Type: application/json' \
	--data-binary "@$T/big.json" http://localhost/v1/schedule/check
sleep "$(( parse_ms / 1000 + 1 ))"
check "a client that left during a parse: the controller answers on (GET /v1/nodes $(api GET /v1/nodes))" \
	[ "$(api GET /v1/nodes)" = 200 ]

# SIGTERM while a parse runs: the controller joins its parser and exits
# (a quarter of the parse time: stop_checked allows 10 s)
big "$T/half.cfg" $((size / 2))
sched_body "$T/half.cfg" >"$T/half.json"
api POST /v1/schedule/check "@$T/half.json" "$T/late.json" >/dev/null &
cpid=$!
sleep 0.15
t0=$(now_ms)
stop_checked controller # fails if it takes more than 10 s
diag "SIGTERM during a parse: the controller stopped in $(( $(now_ms) - t0 )) ms"
wait "$cpid" 2>/dev/null

stop_all_checked
finish
