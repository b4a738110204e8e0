#!/bin/bash
# The size limit of schedule files (issue 14, point 8; docs/schedules.md):
# libconfig's parse time grows with the square of the input, and the
# controller parses in its only loop, so a file over schedule.max_file_bytes
# is refused before it is parsed.
#   - a file just under the configured limit is checked as usual;
#   - one just over is refused by `loaxa schedule check` and `apply` before
#     anything is sent, naming the file and the limit;
#   - the same through the API (POST /v1/schedule/check|apply): refused,
#     naming the file and the limit;
#   - a 4 MB file (6.5 s of libconfig without the limit) is refused at once,
#     and GET /v1/nodes answers promptly right after;
#   - at most 2 large schedule bodies are received at once: a third gets 503;
#   - the default limit is 1 MiB (GET /v1/schedule/limits).
source "$(dirname "$0")/../lib.sh"
need "$LOAXA" "$CONTROLLER"

LIMIT=65536
start_broker || exit 1
keygen || exit 1
write_controller_cfg "schedule = { max_file_bytes = $LIMIT; };"
start_controller || exit 1
SOCK=$LOAXA_SOCKET
TOK=$(cat "$LOAXA_TOKEN_FILE")
# api METHOD PATH [BODY] : HTTP status; body in $T/resp.json (BODY @FILE: that file)
api() {
	local args=(-s -o "$T/resp.json" -w '%{http_code}' --unix-socket "$SOCK" -X "$1"
		    -H "Authorization: Bearer $TOK")
	[ -n "${3:-}" ] && args+=(-H 'Content-Type: application/json' --data-binary "$3")
	curl "${args[@]}" "http://localhost$2"
}

# pad FILE SIZE : a valid schedule file (no items) of exactly SIZE bytes
pad() {
	{
		printf 'items = ( );\n'
		head -c $(( $2 - 13 - 1 )) /dev/zero | tr '\0' '#'
		printf '\n'
	} >"$1"
}
pad "$T/under.cfg" $((LIMIT - 1))
pad "$T/over.cfg" $((LIMIT + 1))
check "the files are $((LIMIT - 1)) and $((LIMIT + 1)) bytes" \
	[ "$(stat -c %s "$T/under.cfg")" = $((LIMIT - 1)) ] &&
	[ "$(stat -c %s "$T/over.cfg")" = $((LIMIT + 1)) ]

check "GET /v1/schedule/limits says $LIMIT" \
	[ "$(api GET /v1/schedule/limits)" = 200 ] && jq -e ".max_file_bytes == $LIMIT" "$T/resp.json"

out=$("$LOAXA" schedule check "$T/under.cfg" 2>&1)
check "a file of limit - 1 bytes is checked as usual (\"$out\")" \
	bash -c "! grep -q 'over the limit' <<<'$out'"

# The CLI asks the controller for its limit only for a file over the
# default 1 MiB, and refuses it before sending the request (the audit log
# records every POST: none may appear).
pad "$T/big.cfg" $(( (1 << 20) + 1 ))
posts() { "$LOAXA" audit --limit 1000 --json | jq '[.[] | select(.action | startswith("POST /v1/schedule/"))] | length'; }
posts_before=$(posts)
for what in check apply; do
	out=$("$LOAXA" schedule "$what" "$T/big.cfg" 2>&1)
	rc=$?
	check "loaxa schedule $what refuses a file of 1 MiB + 1 byte, naming it and the limit ($rc: \"$out\")" \
		[ "$rc" != 0 ] && grep -q "$T/big.cfg: the file is 1048577 bytes, over the limit of $LIMIT bytes" <<<"$out"
done
check "... without sending either request to the controller" [ "$(posts)" = "$posts_before" ]
out=$("$LOAXA" schedule check "$T/over.cfg" 2>&1)
check "loaxa schedule check over.cfg (limit + 1): refused by the controller, naming it and the limit (\"$out\")" \
	grep -q "$T/over.cfg: the file is $((LIMIT + 1)) bytes, over the limit of $LIMIT bytes" <<<"$out"

sched_body "$T/over.cfg" >"$T/over.json"
for what in check apply; do
	code=$(api POST "/v1/schedule/$what" "@$T/over.json")
	check "POST /v1/schedule/$what over.cfg: refused, naming the file and the limit (HTTP $code)" \
		jq -e --arg f "$T/over.cfg: the file is $((LIMIT + 1)) bytes, over the limit of $LIMIT bytes" \
		'.ok == false and (.errors[0] | startswith($f))' "$T/resp.json" ||
		diag "$(cat "$T/resp.json")"
done

head -c $((4 << 20)) /dev/zero | tr '\0' '#' >"$T/huge.cfg"
sched_body "$T/huge.cfg" >"$T/huge.json"
t0=$(now_ms)
code=$(api POST /v1/schedule/check "@$T/huge.json")
t1=$(now_ms)
api GET /v1/nodes >/dev/null
t2=$(now_ms)
check "a 4 MiB file is refused in $((t1 - t0)) ms (under 1 s)" \
	[ $((t1 - t0)) -lt 1000 ] && grep -q 'over the limit' "$T/resp.json"
check "GET /v1/nodes answers right after, in $((t2 - t1)) ms (under 0.5 s)" [ $((t2 - t1)) -lt 500 ]

# Large schedule bodies held at once are bounded (2): a third arriving
# while two are still coming in is answered 503 at once; once they are
# gone, the same request is taken.
head -c $((2 << 20)) /dev/zero | tr '\0' '#' >"$T/slow.cfg"
sched_body "$T/slow.cfg" >"$T/slow.json"
head -c $((100 << 10)) /dev/zero | tr '\0' '#' >"$T/third.cfg"
sched_body "$T/third.cfg" >"$T/third.json"
slow=()
for i in 1 2; do
	curl -s -o /dev/null --limit-rate 100k --unix-socket "$SOCK" -X POST \
		-H "Authorization: Bearer $TOK" -H 'Content-Type: application/json' \
		--data-binary "@$T/slow.json" http://localhost/v1/schedule/check &
	slow+=($!)
done
sleep 1 # both are sending
code=$(api POST /v1/schedule/check "@$T/third.json")
check "a third large schedule request while two are coming in: 503, try again (HTTP $code: $(head -c 150 "$T/resp.json"))" \
	bash -c "[ '$code' = 503 ] && grep -q 'already receiving 2 large schedule requests: try again' '$T/resp.json'"
kill "${slow[@]}" 2>/dev/null
wait "${slow[@]}" 2>/dev/null
code=$(api POST /v1/schedule/check "@$T/third.json")
check "... and taken once they are gone (HTTP $code, the file refused for its size only)" \
	bash -c "[ '$code' = 200 ] && grep -q 'third.cfg: the file is 102400 bytes, over the limit' '$T/resp.json'"

# the default, with no setting
stop controller
write_controller_cfg
start_controller || exit 1
TOK=$(cat "$LOAXA_TOKEN_FILE")
check "without the setting the limit is 1 MiB" \
	[ "$(api GET /v1/schedule/limits)" = 200 ] && jq -e '.max_file_bytes == 1048576' "$T/resp.json"
out=$("$LOAXA" schedule check "$T/big.cfg" 2>&1)
check "... and a file of 1 MiB + 1 byte is refused (\"$out\")" \
	grep -q "over the limit of 1048576 bytes" <<<"$out"

stop_all_checked
finish
