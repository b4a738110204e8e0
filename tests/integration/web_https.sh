#!/bin/bash
# The web console's HTTPS listener (issue 15 point 1, docs/controller.md
# "Web console"), against a real controller on 127.0.0.1:<free port>:
#   - the TLS handshake verifies against the CA of `loaxa web-cert`
#     (curl --cacert), and plain HTTP on the port gets no answer;
#   - a static file of web.root comes with its Content-Type and the security
#     headers (CSP default-src 'self', nosniff, frame DENY, no-referrer,
#     HSTS); a directory, ../, %2e%2e, an absolute path, a hidden file and a
#     symlink out of the root are refused (404) without showing the file;
#   - POST /v1/session sets the session cookie HttpOnly; Secure;
#     SameSite=Strict; Path=/ and answers a CSRF token but no token;
#     GET /v1/session says who is logged in;
#   - with the cookie, a change without X-CSRF-Token is refused (403), with
#     a wrong one too, with the right one accepted; a read needs none;
#   - wrong passwords are throttled (429) like `loaxa login`'s, and the
#     audit log names the web peer;
#   - a village-scoped operator cannot act outside its village over HTTPS;
#   - DELETE /v1/session revokes the session: the cookie no longer works;
#   - the unix socket API answers as before.
source "$(dirname "$0")/../lib.sh"
need "$LOAXA" "$CONTROLLER" "$NODE"
command -v openssl >/dev/null || { not_ok "openssl is installed"; exit 1; }

start_broker || exit 1
keygen || exit 1
WEBPORT=$(free_port)
mkdir -p "$T/www/css" "$T/outside"
cp "$ROOT/web/index.html" "$T/www/index.html" 2>/dev/null ||
	echo '<!doctype html><title>loaxa</title>' >"$T/www/index.html"
echo 'body { color: black; }' >"$T/www/css/app.css"
echo 'secret outside the console' >"$T/outside/secret.txt"
echo 'hidden' >"$T/www/.hidden.txt"
ln -s "$T/outside/secret.txt" "$T/www/escape.txt"
ln -s "../outside/secret.txt" "$T/www/escape2.txt"

# the certificate as an install makes it
"$LOAXA" web-cert --dir "$T/web-tls" --host 127.0.0.1 --host localhost >"$T/web-cert.log" 2>&1
check "loaxa web-cert makes a CA and a certificate ($(tail -n1 "$T/web-cert.log"))" \
	[ -s "$T/web-tls/ca.crt" ] && [ -s "$T/web-tls/web.crt" ] && [ -s "$T/web-tls/web.key" ]
check "the certificate's key is private (0600)" \
	[ "$(stat -c %a "$T/web-tls/web.key")" = 600 ]

write_controller_cfg "web = { listen = \"127.0.0.1:$WEBPORT\"; cert = \"$T/web-tls/web.crt\";" \
	"  key = \"$T/web-tls/web.key\"; root = \"$T/www\"; };" \
	"alarms = { offline_s = 2; };"
start_controller || exit 1
write_node_cfg n1 thon-1
write_node_cfg n2 thon-2
for n in n1 n2; do start_node "$n" || exit 1; done

URL=https://127.0.0.1:$WEBPORT
CA=$T/web-tls/ca.crt
has() { jq -e "$1" >/dev/null 2>&1 <<<"$2"; }
hdr() { grep -i "^$1:" "$T/h.txt" | head -n1 | cut -d: -f2- | sed 's/^ //; s/\r$//'; }
# web METHOD PATH [curl args...] : status on stdout, body in $T/b.txt,
# headers in $T/h.txt
web() {
	local m=$1 p=$2
	shift 2
	curl -s --cacert "$CA" --path-as-is -X "$m" -D "$T/h.txt" -o "$T/b.txt" \
		-w '%{http_code}' "$@" "$URL$p"
}
body() { cat "$T/b.txt"; }

# ---------------------------------------------------------------- TLS
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$CA" "$URL/")
check "TLS handshake verified with web-cert's CA: GET / answers 200 ($code)" [ "$code" = 200 ]
untrusted() { ! curl -s -o /dev/null "$URL/"; }
check "without the CA, curl refuses the certificate (it is the install's own)" untrusted
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$WEBPORT/")
check "plain HTTP on the port gets no HTTP answer ($code)" [ "$code" = 000 ]

# ---------------------------------------------------------------- static files
code=$(web GET /)
check "GET / is index.html ($code)" [ "$code" = 200 ] && cmp -s "$T/b.txt" "$T/www/index.html"
check "Content-Type text/html; charset=utf-8 ($(hdr Content-Type))" \
	[ "$(hdr Content-Type)" = "text/html; charset=utf-8" ]
csp=$(hdr Content-Security-Policy)
check "Content-Security-Policy allows only the controller ($csp)" \
	grep -q "default-src 'self'" <<<"$csp" && grep -q "script-src 'self';" <<<"$csp" &&
	! grep -q "unsafe-inline\|unsafe-eval\|http:\|https:\|\*" <<<"$csp" &&
	grep -q "frame-ancestors 'none'" <<<"$csp"
check "X-Content-Type-Options nosniff" [ "$(hdr X-Content-Type-Options)" = nosniff ]
check "X-Frame-Options DENY" [ "$(hdr X-Frame-Options)" = DENY ]
check "Referrer-Policy no-referrer" [ "$(hdr Referrer-Policy)" = no-referrer ]
check "Strict-Transport-Security ($(hdr Strict-Transport-Security))" \
	grep -q '^max-age=[0-9]\{7,\}' <<<"$(hdr Strict-Transport-Security)"
code=$(web GET /css/app.css)
check "GET /css/app.css: 200 text/css ($code, $(hdr Content-Type))" \
	[ "$code" = 200 ] && [ "$(hdr Content-Type)" = "text/css; charset=utf-8" ]
code=$(web HEAD /css/app.css)
check "HEAD /css/app.css: 200 ($code)" [ "$code" = 200 ]
code=$(web POST /index.html)
check "POST on a file: 405 ($code)" [ "$code" = 405 ]
code=$(web GET /css)
check "a directory is not listed: GET /css is 404 ($code)" [ "$code" = 404 ]
code=$(web GET /css/)
check "GET /css/ (no index.html there) is 404 ($code)" [ "$code" = 404 ]
for p in "/../outside/secret.txt" "/css/../../outside/secret.txt" \
	"/%2e%2e/outside/secret.txt" "/css/%2E%2E/%2e%2e/outside/secret.txt" \
	"/..%2foutside%2fsecret.txt" "/$T/outside/secret.txt" "//$T/outside/secret.txt" \
	"/escape.txt" "/escape2.txt" "/.hidden.txt" "/css\\..\\index.html"; do
	code=$(web GET "$p")
	check "GET $p is refused ($code) and shows nothing of the file" \
		[ "$code" = 404 ] && ! grep -q secret "$T/b.txt" && ! grep -q hidden "$T/b.txt"
done
code=$(web GET /v1/nodes)
check "the API over HTTPS without a session: 401 ($code)" [ "$code" = 401 ]
check "... with the same security headers, and no caching (Cache-Control $(hdr Cache-Control))" \
	grep -q "default-src 'self'" <<<"$(hdr Content-Security-Policy)" &&
	[ "$(hdr Cache-Control)" = no-store ]

# ---------------------------------------------------------------- sessions
printf 'operator-pw-1\n' >"$T/op1.pw"
"$LOAXA" user add op1 --role operator --zone thon-1 --password-file "$T/op1.pw" >/dev/null
code=$(web POST /v1/session -H 'Content-Type: application/json' \
	--data "{\"user\":\"admin\",\"password\":\"$(cat "$T/admin.pw")\"}")
cookie=$(hdr Set-Cookie)
check "POST /v1/session logs the admin in ($code)" [ "$code" = 200 ]
check "the cookie is session=<64 hex>; HttpOnly; Secure; SameSite=Strict; Path=/ ($cookie)" \
	grep -Eq '^session=[0-9a-f]{64}; ' <<<"$cookie" && grep -q '; HttpOnly' <<<"$cookie" &&
	grep -q '; Secure' <<<"$cookie" && grep -q '; SameSite=Strict' <<<"$cookie" &&
	grep -q '; Path=/' <<<"$cookie"
ATOK=$(sed -n 's/^session=\([0-9a-f]*\);.*/\1/p' <<<"$cookie")
ACSRF=$(jq -r .csrf "$T/b.txt")
check "the answer has a CSRF token, the role, but not the session token ($(body))" \
	has '(.csrf | test("^[0-9a-f]{64}$")) and .role == "admin" and .user == "admin" and (has("token") | not)' "$(body)" &&
	! grep -q "$ATOK" "$T/b.txt"
check "the CSRF token is not the session token" [ "$ACSRF" != "$ATOK" ]
code=$(web GET /v1/session -H "Cookie: session=$ATOK")
check "GET /v1/session: admin, zones *, the same CSRF token ($(body))" \
	[ "$code" = 200 ] && has ".user == \"admin\" and .zones == \"*\" and .csrf == \"$ACSRF\"" "$(body)"
code=$(web GET /v1/nodes -H "Cookie: session=$ATOK")
check "a read with the cookie needs no CSRF token: GET /v1/nodes ($code)" \
	[ "$code" = 200 ] && has '[.nodes[].node] == ["n1", "n2"]' "$(body)"
code=$(web GET /v1/session -H "Cookie: session=$(printf '%064d' 0)")
check "an invented session: 401 ($code)" [ "$code" = 401 ]

# ---------------------------------------------------------------- CSRF
speech "$T/tb.wav" "Thông báo kiểm tra qua trang web." || exit 1
content=$("$LOAXA" import "$T/tb.wav" 2>/dev/null)
play() { printf '{"content":"%s","zone":"%s","level":"normal"}' "$content" "$1"; }
code=$(web POST /v1/broadcasts -H "Cookie: session=$ATOK" -H 'Content-Type: application/json' \
	--data "$(play thon-1)")
check "a broadcast with the cookie but no X-CSRF-Token: 403 ($(body))" \
	[ "$code" = 403 ] && grep -q 'X-CSRF-Token' "$T/b.txt"
code=$(web POST /v1/broadcasts -H "Cookie: session=$ATOK" -H "X-CSRF-Token: $ATOK" \
	-H 'Content-Type: application/json' --data "$(play thon-1)")
check "... with a wrong X-CSRF-Token (the session token itself): 403 ($code)" [ "$code" = 403 ]
check "nothing was broadcast by the refused requests" \
	[ "$("$LOAXA" plays --json | jq '[.plays[] | select(.broadcast != null)] | length')" = 0 ]
code=$(web POST /v1/broadcasts -H "Cookie: session=$ATOK" -H "X-CSRF-Token: $ACSRF" \
	-H 'Content-Type: application/json' --data "$(play thon-1)")
B1=$(jq -r .broadcast "$T/b.txt")
check "... with the right X-CSRF-Token: 201, broadcast $B1" [ "$code" = 201 ]
played() { [ "$("$LOAXA" plays --json | jq --arg b "$B1" '[.plays[] | select(.broadcast == $b and .type == "play_finished")] | length')" -ge 1 ]; }
check "n1 plays the broadcast sent over HTTPS" wait_for 30 played

# ---------------------------------------------------------------- scope
code=$(web POST /v1/session -H 'Content-Type: application/json' \
	--data '{"name":"op1","password":"operator-pw-1"}')
OTOK=$(sed -n 's/^session=\([0-9a-f]*\);.*/\1/p' <<<"$(hdr Set-Cookie)")
OCSRF=$(jq -r .csrf "$T/b.txt")
check "op1 (operator of thon-1) logs in over HTTPS ($code, zones $(jq -c .zones "$T/b.txt"))" \
	[ "$code" = 200 ] && [ "${#OTOK}" = 64 ] && has '.zones == ["thon-1"]' "$(body)"
code=$(web POST /v1/broadcasts -H "Cookie: session=$OTOK" -H "X-CSRF-Token: $OCSRF" \
	-H 'Content-Type: application/json' --data "$(play thon-2)")
check "op1 broadcasting to thon-2 over HTTPS: 403 naming the scope ($(body))" \
	[ "$code" = 403 ] && grep -q 'thon-1' "$T/b.txt"
code=$(web GET /v1/nodes -H "Cookie: session=$OTOK")
check "op1 sees only n1 over HTTPS" [ "$code" = 200 ] && has '[.nodes[].node] == ["n1"]' "$(body)"
code=$(web POST /v1/nodes/n2/volume -H "Cookie: session=$OTOK" -H "X-CSRF-Token: $OCSRF" \
	-H 'Content-Type: application/json' --data '{"volume": 50}')
check "op1 acting on n2 (thon-2) over HTTPS: 403 ($code)" [ "$code" = 403 ]
code=$(web POST /v1/session -H 'Content-Type: application/json' \
	-H "Cookie: session=$OTOK" --data '{"name":"op1","password":"operator-pw-1"}')
check "a second login in the same browser works (the old cookie is not a CSRF matter) ($code)" \
	[ "$code" = 200 ]

# ---------------------------------------------------------------- live updates
# stream NAME COOKIE [curl args] : GET /v1/events in the background, into $T/NAME.sse
stream() {
	local name=$1 tok=$2
	shift 2
	curl -s -N --cacert "$CA" -H "Cookie: session=$tok" "$@" "$URL/v1/events" \
		>"$T/$name.sse" 2>/dev/null &
	PID_OF[$name]=$!
	STOP_ORDER+=("$name")
}
sse_has() { grep -q "$2" "$T/$1.sse"; }
stream sse_admin "$ATOK"
stream sse_op1 "$OTOK"
check "GET /v1/events streams text/event-stream over HTTPS" \
	wait_for 10 sse_has sse_admin '^retry: '
B2=$("$LOAXA" play "$content" --zone thon-2 --json 2>/dev/null | jq -r .broadcast)
B3=$("$LOAXA" play "$content" --zone thon-1 --json 2>/dev/null | jq -r .broadcast)
check "the admin's stream has n2's confirmation of $B2 as it comes" \
	wait_for 30 sse_has sse_admin "\"node\":\"n2\",\"type\":\"play_finished\",\"broadcast\":\"$B2\""
check "op1's stream has n1's confirmation of $B3" \
	wait_for 30 sse_has sse_op1 "\"node\":\"n1\",\"type\":\"play_finished\",\"broadcast\":\"$B3\""
stop n2
check "the admin's stream says n2 went offline" \
	wait_for 30 sse_has sse_admin '^data: {"node":"n2","online":false'
no_n2() { ! sse_has sse_op1 '"n2"'; }
check "the admin's stream has the offline alarm of n2 (alarms.offline_s = 2)" \
	wait_for 30 sse_has sse_admin '^data: {.*"node":"n2","kind":"offline".*"event":"raised"'
check "op1's stream has nothing of n2 (not in its village)" no_n2
check "each event has an id and a kind" \
	[ "$(grep -c '^id: [0-9]*$' "$T/sse_admin.sse")" -ge 3 ] &&
	[ "$(grep -c '^event: \(play\|node\)$' "$T/sse_admin.sse")" -ge 3 ]
first=$(sed -n 's/^id: //p' "$T/sse_admin.sse" | head -n1)
curl -s -N --max-time 3 --cacert "$CA" -H "Cookie: session=$ATOK" -H "Last-Event-ID: $first" \
	"$URL/v1/events" >"$T/replay.sse" 2>/dev/null
check "a stream that reconnects with Last-Event-ID gets what came after it" \
	[ "$(grep -c '^id: ' "$T/replay.sse")" = "$(( $(grep -c '^id: ' "$T/sse_admin.sse") - 1 ))" ] &&
	! grep -q "^id: $first\$" "$T/replay.sse"
curl -s -N --max-time 3 --cacert "$CA" -H "Cookie: session=$ATOK" -H "Last-Event-ID: 12" \
	"$URL/v1/events" >"$T/reset.sse" 2>/dev/null
check "one from before the controller's events (an earlier run) is told to reload" \
	grep -q '^event: reset' "$T/reset.sse"
code=$(web GET /v1/events)
check "GET /v1/events without a session: 401 ($code)" [ "$code" = 401 ]
api_curl -N --max-time 2 http://localhost/v1/events >"$T/unix.sse" 2>/dev/null
check "the unix socket has /v1/events too" grep -q '^retry: ' "$T/unix.sse"
start_node n2 || exit 1
check "the admin's stream has the alarm cleared when n2 is back" \
	wait_for 30 sse_has sse_admin '^data: {.*"node":"n2","kind":"offline".*"event":"cleared"'
check "op1's stream still has nothing of n2" no_n2

check "the alarm events are named alarm" grep -q '^event: alarm$' "$T/sse_admin.sse"

# ---------------------------------------------------------------- throttle
codes=
for i in 1 2 3 4 5 6 7; do
	codes="$codes $(web POST /v1/session -H 'Content-Type: application/json' \
		--data '{"user":"op1","password":"wrong-password"}')"
	sleep 0.3 # AUTH_LOGIN_PER_S: the rate limit is not what is tested here
done
check "wrong passwords: 401 five times, then 429 (throttled) ($codes)" \
	[ "$codes" = " 401 401 401 401 401 429 429" ]
check "the 429 says how long to wait ($(body))" grep -q 'try again in [0-9]* s' "$T/b.txt"
code=$(web POST /v1/session -H 'Content-Type: application/json' \
	--data '{"user":"op1","password":"operator-pw-1"}')
check "even the right password is refused while op1 is throttled ($code)" [ "$code" = 429 ]
audit=$("$LOAXA" audit --json --limit 200 2>/dev/null)
check "the audit log has the refused web logins with the web peer" \
	has '[.[] | select(.action == "POST /v1/session" and .status == 401 and (.from | startswith("web 127.0.0.1:")))] | length >= 5' "$audit" ||
	diag "$(jq -c '.[:3]' <<<"$audit")"
check "the audit log has op1's refused broadcast over HTTPS" \
	has '[.[] | select(.user == "op1" and .action == "POST /v1/broadcasts" and .status == 403)] | length == 1' "$audit"

# ---------------------------------------------------------------- logout
code=$(web DELETE /v1/session -H "Cookie: session=$ATOK")
check "DELETE /v1/session without the CSRF token: 403 ($code)" [ "$code" = 403 ]
code=$(web DELETE /v1/session -H "Cookie: session=$ATOK" -H "X-CSRF-Token: $ACSRF")
check "DELETE /v1/session logs out and clears the cookie ($code, $(hdr Set-Cookie))" \
	[ "$code" = 200 ] && grep -q '^session=; .*Max-Age=0' <<<"$(hdr Set-Cookie)"
code=$(web GET /v1/nodes -H "Cookie: session=$ATOK")
check "the old cookie no longer works: 401 ($code)" [ "$code" = 401 ]
stream_ended() { ! alive "${PID_OF[sse_admin]}"; }
check "the logout ended the admin's event stream" wait_for 5 stream_ended
check "op1's stream goes on" alive "${PID_OF[sse_op1]}"
code=$(web GET /v1/session -H "Cookie: session=$ATOK")
check "GET /v1/session with it: 401 ($code)" [ "$code" = 401 ]

# ---------------------------------------------------------------- unix socket
code=$(http_status GET /v1/nodes "$(cat "$LOAXA_TOKEN_FILE")")
check "the unix socket API answers as before ($code)" \
	[ "$code" = 200 ] && has '[.nodes[].node] == ["n1", "n2"]' "$(cat "$T/resp.json")"
code=$(http_status GET /index.html "$(cat "$LOAXA_TOKEN_FILE")")
check "the unix socket serves no console files ($code)" [ "$code" = 404 ]
code=$(http_status POST /v1/session "" '{"user":"admin","password":"x"}')
check "nor sessions (/v1/session is the web listener's): $code" [ "$code" = 401 ] || [ "$code" = 404 ]
check "the controller's log names the web listener" \
	grep -q "web console listening on https://127.0.0.1:$WEBPORT" "$T/controller/controller.log"

# ---------------------------------------------------------------- config
# badcfg NAME WEB-GROUP : a copy of the config with that web group
badcfg() {
	sed -e '/^web = /,/};$/d' -e "s|api_socket = .*|api_socket = \"$T/bad-$1.sock\";|" \
		"$T/controller/controller.cfg" >"$T/bad-$1.cfg"
	echo "$2" >>"$T/bad-$1.cfg"
}
badcfg nocert "web = { listen = \"127.0.0.1:$WEBPORT\"; key = \"$T/web-tls/web.key\"; };"
out=$("$CONTROLLER" -c "$T/bad-nocert.cfg" --check-config 2>&1)
check "--check-config: web.listen without web.cert is an error naming the field ($(grep -o 'web.cert.*' <<<"$out" | head -c 90))" \
	grep -q 'field "web.cert": is required with web.listen' <<<"$out"
badcfg nokey "web = { listen = \"127.0.0.1:$WEBPORT\"; cert = \"$T/web-tls/web.crt\"; key = \"$T/web-tls/nothing.key\"; };"
out=$("$CONTROLLER" -c "$T/bad-nokey.cfg" --check-config 2>&1)
check "--check-config: an unreadable web.key is an error naming it" \
	grep -q 'field "web.key": cannot read .*nothing.key' <<<"$out"
badcfg off "# no web group"
check "--check-config: no web group is fine (the console is off)" \
	"$CONTROLLER" -c "$T/bad-off.cfg" --check-config
badcfg badlisten "web = { listen = \"8443\"; cert = \"$T/web-tls/web.crt\"; key = \"$T/web-tls/web.key\"; };"
out=$(timeout 20 "$CONTROLLER" -c "$T/bad-badlisten.cfg" 2>&1)
rc=$?
check "a web.listen that is not ADDRESS:PORT stops the start, saying how to write it (exit $rc)" \
	[ "$rc" != 0 ] && [ "$rc" != 124 ] && grep -q 'web.listen "8443" in controller.cfg is not ADDRESS:PORT' <<<"$out"
badcfg inuse "web = { listen = \"127.0.0.1:$WEBPORT\"; cert = \"$T/web-tls/web.crt\"; key = \"$T/web-tls/web.key\"; };"
out=$(timeout 20 "$CONTROLLER" -c "$T/bad-inuse.cfg" 2>&1)
rc=$?
check "a port in use stops the start, saying so (exit $rc)" \
	[ "$rc" != 0 ] && [ "$rc" != 124 ] && grep -q 'another program uses the port' <<<"$out"
badcfg wrongkey "web = { listen = \"127.0.0.1:$(free_port)\"; cert = \"$T/web-tls/web.crt\"; key = \"$T/web-tls/ca.key\"; };"
out=$(timeout 20 "$CONTROLLER" -c "$T/bad-wrongkey.cfg" 2>&1)
rc=$?
check "a key that is not the certificate's stops the start, naming both (exit $rc)" \
	[ "$rc" != 0 ] && [ "$rc" != 124 ] && grep -q 'cannot start the web console' <<<"$out"

# a stream waiting (suspended) when the controller stops: it ends, the
# controller exits cleanly
check "op1's event stream is still open before the controller stops" alive "${PID_OF[sse_op1]}"
stop_checked controller
op1_ended() { ! alive "${PID_OF[sse_op1]}"; }
check "stopping the controller ends the open event stream" wait_for 5 op1_ended
stop sse_op1
stop sse_admin
stop_all_checked
finish
