#!/bin/bash
# Untrusted media is decoded away from the signing key (issue 14, point 3;
# docs/security.md "Hostile media file", docs/import.md "Decode worker"):
#   - loaxa-controller links no FFmpeg (readelf -d: no libav*/libsw* NEEDED),
#     in the release and the sanitizer build;
#   - the decode worker the controller runs for a live session from stored
#     content (`loaxa live --file`) is loaxa-encode, under a seccomp filter
#     (/proc/PID/status Seccomp: 2, NoNewPrivs: 1), with no descriptor but
#     its input file, its pipe and stderr, and no environment of the
#     controller's;
#   - code running inside the worker while it parses media (an LD_PRELOADed
#     av_read_frame, standing in for a decoder exploit) cannot open the
#     controller's key (EACCES) and is killed when it makes a socket;
#   - an https relay to a server with a self-signed certificate is refused,
#     and with relay.ca_file naming that certificate it plays on the node.
source "$(dirname "$0")/../lib.sh"
: "${LOAXA_RELEASE_BIN:=$ROOT/build}"
need "$LOAXA" "$CONTROLLER" "$NODE" "$LOAXA_ENCODE" "$(command -v readelf)" \
	"$(command -v openssl)" "$(command -v cc)"

# ---------------------------------------------------------------- no FFmpeg in the controller
for b in "$LOAXA_RELEASE_BIN/loaxa-controller" "$CONTROLLER"; do
	[ -x "$b" ] || continue
	readelf -dW "$b" >"$T/needed" 2>&1
	check "$b links no FFmpeg library ($(grep -c NEEDED "$T/needed") NEEDED, none libav*/libsw*)" \
		eval '[ -s "$T/needed" ] && ! grep -E "NEEDED.*\[lib(av|sw|postproc)" "$T/needed"'
	check "$b still links what it needs (libsodium, libopus)" \
		eval 'grep -q "libsodium" "$T/needed" && grep -q "libopus\.so" "$T/needed"'
done

start_broker || exit 1
keygen || exit 1
write_controller_cfg
start_controller || exit 1
write_node_cfg n1 thon-1
start_node n1 || exit 1

# ---------------------------------------------------------------- the worker of a live file session
sox -n -r 44100 -c 2 "$T/long.wav" synth 12 sine 440 2>/dev/null
"$LOAXA" live --file "$T/long.wav" --node n1 --json >"$T/live.json" 2>"$T/live.err" &
LIVE_PID=$!
PID_OF[live]=$LIVE_PID
STOP_ORDER+=(live)
CPID=${PID_OF[controller]}
# `loaxa live --file` imports first (worker mode import), then streams the
# stored content (mode pcm): the second is the one that lives long enough.
# Its filter is in place a moment after exec: wait for it.
worker_pid() {
	local p
	for p in $(pgrep -P "$CPID"); do
		tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q "^loaxa-encode --worker pcm" &&
			{ echo "$p"; return 0; }
	done
	return 1
}
check "the controller runs a decode worker (loaxa-encode --worker pcm) for the live file session" \
	wait_for 30 worker_pid
W=$(worker_pid)
if [ -n "$W" ]; then
	filtered() { grep -Eq '^Seccomp:\s+2$' "/proc/$W/status"; }
	wait_for 5 filtered
	grep -E '^(Seccomp|NoNewPrivs):' "/proc/$W/status" >"$T/wstatus"
	diag "worker $W: $(tr '\n\t' '  ' <"$T/wstatus")"
	check "the worker runs under a seccomp filter (Seccomp: 2)" grep -Eq '^Seccomp:\s+2$' "$T/wstatus"
	check "the worker has no_new_privs (NoNewPrivs: 1)" grep -Eq '^NoNewPrivs:\s+1$' "$T/wstatus"
	ls -l "/proc/$W/fd" | awk 'NR > 1 { print $(NF-2), $NF }' >"$T/wfds"
	diag "worker descriptors: $(tr '\n' ';' <"$T/wfds")"
	check "the worker holds only fds 0, 1, 2 (no database, no socket, no key)" \
		[ "$(awk '{print $1}' "$T/wfds" | sort -n | tr '\n' ' ')" = "0 1 2 " ]
	check "its fd 0 is the stored content file, fd 1 a pipe" \
		eval 'grep -Eq "^0 .*/content/[0-9a-f]{64}\.opus$" "$T/wfds" && grep -Eq "^1 pipe:" "$T/wfds"'
	check "its environment holds nothing of the controller's (no HOME, PATH, LOAXA_*)" \
		eval '! tr "\0" "\n" <"/proc/$W/environ" | grep -Eq "^(HOME|PATH|LOAXA_[A-Z_]*|XDG_[A-Z_]*)="'
	check "no database or key file is open in the worker" \
		eval '! grep -Eq "\.(db|key)$|sqlite" "$T/wfds"'
fi
wait "$LIVE_PID"
check "loaxa live --file streams to its end through the worker" [ $? = 0 ] || sed 's/^/#   /' "$T/live.err"
check "n1 played the live file (frames sent)" \
	eval '[ "$(jq -r ".frames // 0" "$T/live.json" 2>/dev/null)" -gt 500 ]'
unset 'PID_OF[live]'

# ---------------------------------------------------------------- a compromised decoder
# av_read_frame runs inside the worker on every packet of the media, after
# the filter is in place: what it can do, a decoder exploit can do.
cat >"$T/probe.c" <<'PROBE'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
struct AVFormatContext;
struct AVPacket;
int av_read_frame(struct AVFormatContext *s, struct AVPacket *pkt)
{
	static int (*real)(struct AVFormatContext *, struct AVPacket *);
	static int done;
	if (!done) {
		const char *key = getenv("PROBE_KEY");
		int fd = open(key, O_RDONLY);
		done = 1;
		fprintf(stderr, "probe: open %s: %s\n", key, fd >= 0 ? "opened" : strerror(errno));
		if (getenv("PROBE_SOCKET")) {
			fprintf(stderr, "probe: socket\n");
			fd = socket(AF_INET, SOCK_STREAM, 0);
			fprintf(stderr, "probe: socket returned %d\n", fd);
		}
	}
	if (!real)
		real = (int (*)(struct AVFormatContext *, struct AVPacket *))dlsym(RTLD_NEXT, "av_read_frame");
	return real(s, pkt);
}
PROBE
cc -shared -fPIC -o "$T/probe.so" "$T/probe.c" -ldl 2>"$T/probe.cc.log" ||
	{ not_ok "the probe library builds"; dump_log "$T/probe.cc.log"; }
KEY=$T/keys/controller.key
check "the test can read the key itself (same user as the worker)" head -c1 "$KEY" >/dev/null
probe() {
	env ASAN_OPTIONS="$ASAN_OPTIONS:verify_asan_link_order=0" LD_PRELOAD="$T/probe.so" \
		PROBE_KEY="$KEY" "$@" "$LOAXA_ENCODE" --worker pcm <"$T/long.wav" >"$T/probe.pcm" 2>>"$T/probe.log"
}
: >"$T/probe.log"
probe env
check "the probe runs inside the worker while it reads the media" \
	grep -q "probe: open" "$T/probe.log" || dump_log "$T/probe.log"
check "inside the decode worker, open(controller.key) is refused (EACCES)" \
	grep -q "probe: open $KEY: Permission denied" "$T/probe.log" || dump_log "$T/probe.log"
check "the worker still decodes the file (12 s of s16 at 48 kHz)" \
	[ "$(stat -c %s "$T/probe.pcm")" -ge $(( 12 * 48000 * 2 )) ]
: >"$T/probe.log"
probe env PROBE_SOCKET=1
rc=$?
check "a socket() inside the decode worker kills it (SIGSYS, exit $rc)" [ "$rc" = $(( 128 + 31 )) ] ||
	dump_log "$T/probe.log"
check "... before socket() returns" eval '! grep -q "probe: socket returned" "$T/probe.log"'

# ---------------------------------------------------------------- https relays verify the server
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
	-keyout "$T/tls.key" -out "$T/tls.crt" -subj "/CN=127.0.0.1" \
	-addext "subjectAltName=IP:127.0.0.1" >"$T/openssl.log" 2>&1 ||
	{ not_ok "openssl makes a self-signed certificate"; dump_log "$T/openssl.log"; }
mkdir -p "$T/www"
sox -n -r 48000 -c 1 "$T/www/vov.wav" synth 20 sine 500 2>/dev/null
HTTPS_PORT=$(free_port)
(cd "$T/www" && exec openssl s_server -quiet -accept "127.0.0.1:$HTTPS_PORT" \
	-cert "$T/tls.crt" -key "$T/tls.key" -WWW) >"$T/https.log" 2>&1 &
PID_OF[https]=$!
STOP_ORDER+=(https)
https_up() { curl -sf --cacert "$T/tls.crt" "https://127.0.0.1:$HTTPS_PORT/vov.wav" -o /dev/null; }
wait_for 10 https_up || { not_ok "the test HTTPS server answers"; finish; }
URL="https://127.0.0.1:$HTTPS_PORT/vov.wav"

relaying() { node_json n1 | jq -e '.status.live.level == "relay" and .status.live.playing == true' >/dev/null; }
"$LOAXA" live --relay --url "$URL" --node n1 --json >"$T/relay1.json" 2>"$T/relay1.err" &
PID_OF[relay1]=$!
refused() { grep -q "relay of $URL: cannot open the stream" "$T/controller/controller.log"; }
check "without relay.ca_file, the self-signed https relay is refused (the worker cannot open it)" \
	wait_for 15 refused || dump_log "$T/controller/controller.log"
check "... and n1 never plays it" eval '! relaying'
wait "${PID_OF[relay1]}" 2>/dev/null
unset 'PID_OF[relay1]'

stop controller
write_controller_cfg "relay = { ca_file = \"$T/tls.crt\"; };"
start_controller || exit 1
"$LOAXA" live --relay --url "$URL" --node n1 --json >"$T/relay2.json" 2>"$T/relay2.err" &
PID_OF[relay2]=$!
check "with relay.ca_file naming the server's certificate, n1 plays the https relay" \
	wait_for 20 relaying || dump_log "$T/controller/controller.log"
"$LOAXA" live stop >"$T/stop.log" 2>&1
wait "${PID_OF[relay2]}" 2>/dev/null
unset 'PID_OF[relay2]'

# the name counts too: a certificate from the configured CA for another name
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
	-keyout "$T/other.key" -out "$T/other.crt" -subj "/CN=other.example" \
	-addext "subjectAltName=DNS:other.example" >>"$T/openssl.log" 2>&1
OTHER_PORT=$(free_port)
(cd "$T/www" && exec openssl s_server -quiet -accept "127.0.0.1:$OTHER_PORT" \
	-cert "$T/other.crt" -key "$T/other.key" -WWW) >"$T/https2.log" 2>&1 &
PID_OF[https2]=$!
STOP_ORDER+=(https2)
other_up() { curl -sfk "https://127.0.0.1:$OTHER_PORT/vov.wav" -o /dev/null; }
wait_for 10 other_up
"$LOAXA_ENCODE" --worker url "https://127.0.0.1:$OTHER_PORT/vov.wav" --ca-file "$T/other.crt" \
	>"$T/other.pcm" 2>"$T/other.err"
rc=$?
check "a server whose certificate names another host is refused even with its CA (exit $rc)" \
	eval '[ $rc = 2 ] && [ ! -s "$T/other.pcm" ]' || dump_log "$T/other.err"
stop https2

write_controller_cfg "relay = { ca_file = \"$T/missing.crt\"; };"
"$CONTROLLER" -c "$T/controller/controller.cfg" --check-config >"$T/check.log" 2>&1
rc=$?
check "a relay.ca_file that cannot be read is refused, naming the field" \
	eval '[ $rc != 0 ] && grep -q "relay.ca_file" "$T/check.log"' || dump_log "$T/check.log"

stop https
stop_all_checked
finish
