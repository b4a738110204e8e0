#!/bin/bash
# What the Debian packages install, run as it would run (issue 17, point 3).
#
#   1. dpkg-buildpackage -b -us -uc builds loaxa-controller, loaxa-node and
#      loaxa-doc from a copy of this tree; lintian reports no error;
#   2. dpkg -i installs them here: the users come from sysusers.d, the
#      directories from tmpfiles.d, and the controller's first install makes
#      the broker's CA and accounts, the signing key, controller.cfg and the
#      first administrator (on a loopback port for the test, through the
#      environment first-install documents);
#   3. each daemon is started exactly as its unit's ExecStart says, as the
#      unit's User/Group/SupplementaryGroups, with no capabilities, no new
#      privileges, and a read-only view of the file system except what the
#      unit may write (StateDirectory, RuntimeDirectory, ReadWritePaths, a
#      private /tmp; /home and /root empty): systemd is not PID 1 here, so a
#      mount namespace (unshare -m) stands in for its sandbox;
#   4. through them: a node is provisioned (`loaxa node add`; the broker is
#      reloaded as loaxa-broker-reload would), its bundle installed as
#      /etc/loaxa, a broadcast plays on it, a schedule file and its audio in
#      a directory the sandboxed controller cannot see (the test's, under
#      /tmp) are applied and the item plays, the key is rotated and a
#      broadcast still plays;
#   5. dpkg --purge removes the packages and their state.
# Needs root (it installs packages); it refuses to run where loaxa is
# already installed by someone else, and removes what it installed.
source "$(dirname "$0")/../lib.sh"
need "$LOAXA"

if [ "$(id -u)" -ne 0 ]; then
	not_ok "the package test runs as root (it installs packages)"
	exit 1
fi
for t in dpkg-buildpackage lintian unshare nsenter setpriv systemd-sysusers; do
	command -v "$t" >/dev/null || { not_ok "$t is installed (scripts/setup.sh)"; exit 1; }
done
if dpkg-query -W -f='${Status}\n' loaxa-controller loaxa-node 2>/dev/null | grep -q 'installed'; then
	not_ok "loaxa is not installed on this machine already (the test would replace it)"
	exit 1
fi
for p in /etc/loaxa /var/lib/loaxa /var/lib/loaxa-node; do
	if [ -e "$p" ]; then
		not_ok "$p does not exist before the test (it belongs to an install the test must not touch)"
		exit 1
	fi
done

PKGS=(loaxa-controller loaxa-node loaxa-doc)
NEW_USERS=()
for u in loaxa loaxa-node; do getent passwd "$u" >/dev/null || NEW_USERS+=("$u"); done
cleanup_install() {
	local d
	for d in node controller broker; do [ -n "${PID_OF[$d]:-}" ] && stop "$d"; done
	dpkg --purge "${PKGS[@]}" >>"$T/purge.log" 2>&1
	rm -rf /etc/loaxa /var/lib/loaxa /var/lib/loaxa-node /run/loaxa
	for u in "${NEW_USERS[@]}"; do
		userdel "$u" >/dev/null 2>&1
		groupdel "$u" >/dev/null 2>&1
	done
}
trap 'rc=$?; cleanup_install; (exit $rc); lib_cleanup' EXIT

# ------------------------------------------------------------ 1. build
mkdir -p "$T/src/loaxa"
tar -C "$ROOT" --exclude=./build --exclude=./build-deb --exclude=./.git -cf - . |
	tar -C "$T/src/loaxa" -xf -
if (cd "$T/src/loaxa" && nice dpkg-buildpackage -b -us -uc -j"$(nproc)") >"$T/build.log" 2>&1; then
	ok "dpkg-buildpackage -b -us -uc builds the packages"
else
	fail "dpkg-buildpackage -b -us -uc builds the packages"
	dump_log "$T/build.log" 40
	exit 1
fi
DEBS=()
for p in "${PKGS[@]}"; do DEBS+=("$(ls "$T/src/${p}_"*.deb)"); done
diag "packages: $(cd "$T/src" && ls ./*.deb | tr '\n' ' ')"
lintian --tag-display-limit 0 "$T/src"/loaxa_*.changes >"$T/lintian.log" 2>&1
check "lintian reports no error on the packages ($(grep -c '^E:' "$T/lintian.log") errors, $(grep -c '^W:' "$T/lintian.log") warnings)" \
	bash -c "! grep -q '^E:' '$T/lintian.log'" || grep '^E:' "$T/lintian.log" | sed 's/^/#   /'
grep '^W:' "$T/lintian.log" | head -20 | sed 's/^/# lintian /'

# ------------------------------------------------------------ 2. install
BPORT=$(free_port)
WPORT=$(free_port)
if LOAXA_SITE=xa-pkgtest LOAXA_BROKER_PORT=$BPORT LOAXA_BROKER_LISTEN=127.0.0.1 \
	LOAXA_WEB_LISTEN=127.0.0.1:$WPORT LOAXA_BROKER_HOST=localhost dpkg -i "${DEBS[@]}" >"$T/install.log" 2>&1; then
	ok "dpkg -i installs the three packages"
else
	fail "dpkg -i installs the three packages"
	dump_log "$T/install.log" 40
	exit 1
fi
sed 's/^/# dpkg: /' "$T/install.log" | grep 'loaxa-controller:' | head
LOAXA=/usr/bin/loaxa # from here on, the installed CLI
check "the users loaxa and loaxa-node exist (sysusers.d)" \
	bash -c 'getent passwd loaxa >/dev/null && getent passwd loaxa-node >/dev/null'
check "loaxa-node is in group audio" bash -c 'id -nG loaxa-node | grep -qw audio'
mode_is() { [ "$(stat -c '%U:%G %a' "$1" 2>/dev/null)" = "$2" ]; }
check "/var/lib/loaxa is loaxa:loaxa 750" mode_is /var/lib/loaxa "loaxa:loaxa 750"
check "the signing key is the controller's alone (loaxa 600)" \
	mode_is /var/lib/loaxa/keys/controller.key "loaxa:loaxa 600"
check "controller.cfg is root:loaxa 640" mode_is /etc/loaxa/controller.cfg "root:loaxa 640"
check "the broker CA key is root's alone" mode_is /etc/loaxa/broker/ca.key "root:root 600"
check "the admin password is root's alone" mode_is /etc/loaxa/admin.password "root:root 600"
check "the web console's CA key is root's alone" mode_is /etc/loaxa/web/ca.key "root:root 600"
check "the web console's key is readable by the controller, not writable (root:loaxa 640)" \
	mode_is /etc/loaxa/web/web.key "root:loaxa 640"
check "the console's files are installed (/usr/share/loaxa/web/index.html)" \
	test -f /usr/share/loaxa/web/index.html
check "man pages are installed (loaxa(1), loaxa-controller(8), loaxa-node.cfg(5))" \
	bash -c 'ls /usr/share/man/man1/loaxa.1* /usr/share/man/man8/loaxa-controller.8* /usr/share/man/man5/loaxa-node.cfg.5* >/dev/null'
check "the units' Documentation pages are installed" \
	test -f /usr/share/doc/loaxa-doc/controller.md -a -f /usr/share/doc/loaxa-doc/node.md
check "the Vietnamese catalogs are installed (loaxa.mo, loaxa-node.mo, the console's vi.json)" \
	test -f /usr/share/locale/vi/LC_MESSAGES/loaxa.mo -a -f /usr/share/locale/vi/LC_MESSAGES/loaxa-node.mo \
	-a -f /usr/share/loaxa/web/i18n/vi.json
check "the installed loaxa finds its catalog: LANG=vi_VN.UTF-8 gives Vietnamese (docs/i18n.md)" \
	bash -c 'env -u LOAXA_LOCALEDIR LANG=vi_VN.UTF-8 /usr/bin/loaxa frobnicate 2>&1 | grep -qF "không có lệnh"'
for u in loaxa-controller loaxa-node loaxa-broker loaxa-broker-reload; do
	e=$(systemd-analyze security --offline=true "/lib/systemd/system/$u.service" 2>/dev/null |
		sed -n 's/.*Overall exposure level for .*: \([0-9.]*\).*/\1/p')
	check "systemd-analyze security: $u exposure $e <= 2.5" awk -v e="$e" 'BEGIN { exit !(e != "" && e <= 2.5) }'
done
check "systemd-analyze verify: the installed units are clean" \
	bash -c "systemd-analyze verify /lib/systemd/system/loaxa-*.service /lib/systemd/system/loaxa-*.path >'$T/verify.log' 2>&1 && ! grep -q . '$T/verify.log'" ||
	dump_log "$T/verify.log"

# ------------------------------------------------------------ 3. run as the units say
unit_values() { # KEY UNITFILE : every value of KEY, one per line
	sed -n "s/^$1=//p" "$2"
}

# run_unit NAME UNIT [ENV=VALUE...] : start the unit's ExecStart in its sandbox.
run_unit() {
	local name=$1 unit=/lib/systemd/system/$2.service exec user group supp rw=() d m mode
	shift 2
	exec=$(unit_values ExecStart "$unit")
	user=$(unit_values User "$unit")
	group=$(unit_values Group "$unit")
	supp=$(unit_values SupplementaryGroups "$unit" | tr ' ' ',')
	for d in $(unit_values StateDirectory "$unit"); do
		install -d -o "$user" -g "$group" -m "$(unit_values StateDirectoryMode "$unit" || echo 0755)" "/var/lib/$d"
		rw+=("/var/lib/$d")
	done
	for d in $(unit_values RuntimeDirectory "$unit"); do
		mode=$(unit_values RuntimeDirectoryMode "$unit")
		install -d -o "$user" -g "$group" -m "${mode:-0755}" "/run/$d"
		rw+=("/run/$d")
	done
	for d in $(unit_values ReadWritePaths "$unit"); do rw+=("$d"); done
	LOG_OF[$name]=$T/$name.log
	# shellcheck disable=SC2016
	env "$@" unshare --mount --propagation private -- bash -c '
		set -e
		n=$1; shift
		rw=("${@:1:$n}"); shift "$n"
		user=$1 group=$2 supp=$3; shift 3
		for p in "${rw[@]}"; do mount --bind "$p" "$p"; done
		# ProtectSystem=strict: every mount read-only but the API file
		# systems and the writable paths
		for m in $(awk "{ print \$2 }" /proc/self/mounts | sort -u); do
			case $m in /proc|/proc/*|/sys|/sys/*|/dev|/dev/*) continue ;; esac
			skip=0
			for p in "${rw[@]}"; do [ "$m" = "$p" ] && skip=1; done
			[ "$skip" = 1 ] || mount -o remount,bind,ro "$m" 2>/dev/null || true
		done
		mount -t tmpfs -o mode=1777 tmpfs /tmp              # PrivateTmp
		mount -t tmpfs -o mode=1777 tmpfs /var/tmp
		mount -t tmpfs -o ro,mode=0755 tmpfs /home           # ProtectHome
		mount -t tmpfs -o ro,mode=0700 tmpfs /root
		if [ -n "$supp" ]; then groups=(--groups "$supp"); else groups=(--clear-groups); fi
		exec setpriv --reuid "$user" --regid "$group" "${groups[@]}" \
			--no-new-privs --inh-caps=-all --bounding-set=-all -- "$@"
	' sandbox "${#rw[@]}" "${rw[@]}" "$user" "$group" "$supp" $exec \
		>>"$T/$name.log" 2>&1 &
	PID_OF[$name]=$!
	STOP_ORDER+=("$name")
	diag "$name: $exec as $user:$group${supp:+ (+$supp)}, writable: ${rw[*]:-nothing}"
}

run_unit broker loaxa-broker
broker_ready() {
	mosquitto_pub -h 127.0.0.1 -p "$BPORT" --cafile /etc/loaxa/broker/ca.crt -u controller \
		-P "$(cat /etc/loaxa/broker/controller.password)" -t "loaxa/xa-pkgtest/probe" -n -q 0 >/dev/null 2>&1
}
check "the broker runs as its unit says (mosquitto, TLS on 127.0.0.1:$BPORT, the generated accounts)" \
	wait_for 15 broker_ready || dump_log "$T/broker.log"

run_unit controller loaxa-controller
export LOAXA_SOCKET=/run/loaxa/api.sock LOAXA_TOKEN_FILE=$T/token
logged_in() { "$LOAXA" login admin --password-file /etc/loaxa/admin.password; }
if wait_for 30 logged_in; then
	ok "the controller runs as its unit says, and admin logs in with the password first-install made"
else
	fail "the controller runs as its unit says, and admin logs in with the password first-install made"
	dump_log "$T/controller.log" 30
	exit 1
fi
check "the controller runs as user loaxa" \
	bash -c "[ \"\$(stat -c %U /proc/${PID_OF[controller]})\" = loaxa ]"
code=$(curl -s -o "$T/index.html" -w '%{http_code}' --cacert /etc/loaxa/web/ca.crt \
	"https://localhost:$WPORT/")
check "the web console answers on https://localhost:$WPORT/ under the sandbox, its certificate verified with first-install's CA ($code)" \
	[ "$code" = 200 ] && cmp -s "$T/index.html" /usr/share/loaxa/web/index.html
# the console's strings come from po/vi.po (make's build/web/i18n), served from
# the installed tree: every line of web/strings.txt, "Record" in Vietnamese
code=$(curl -s -o "$T/vi.json" -w '%{http_code}' --cacert /etc/loaxa/web/ca.crt \
	"https://localhost:$WPORT/i18n/vi.json")
check "the console's Vietnamese strings are served from the catalog (/i18n/vi.json, $code)" \
	bash -c '[ "$1" = 200 ] && jq -e --rawfile ids "$2" ".[\"Record\"] == \"Ghi âm\" and
		(. as \$t | \$ids | split(\"\n\") | map(select(. != \"\" and (startswith(\"#\") | not))) |
		 all(. as \$k | \$t | has(\$k)))" "$3" >/dev/null' _ "$code" "$ROOT/web/strings.txt" "$T/vi.json"
check "web/strings.txt (the catalog's input) is not installed" \
	test ! -e /usr/share/loaxa/web/strings.txt

# ------------------------------------------------------------ 4. provision, play, rotate
"$LOAXA" node add n1 --zone thon-1 --out "$T/n1" >"$T/add.log" 2>&1
check "loaxa node add n1 provisions it (the controller writes the broker's passwd and acl)" \
	grep -q "^n1:" /etc/loaxa/broker/passwd || dump_log "$T/add.log"
kill -HUP "${PID_OF[broker]}" # what loaxa-broker-reload does
install -m 0640 -o root -g loaxa-node "$T/n1/node.cfg" /etc/loaxa/node.cfg
install -m 0644 "$T/n1/ca.crt" /etc/loaxa/ca.crt
install -m 0600 -o loaxa-node -g loaxa-node "$T/n1/mqtt.password" /etc/loaxa/mqtt.password
# no sound card here: the node's "default" device is ALSA's file plugin,
# writing into its state directory (the only place it may write)
install -d -o loaxa-node -g loaxa-node -m 0750 /var/lib/loaxa-node
mkdir -p /var/lib/loaxa-node/xdg/alsa
cat >/var/lib/loaxa-node/xdg/alsa/asoundrc <<ALSA
pcm.!default {
	type file
	slave.pcm "null"
	file "/var/lib/loaxa-node/capture.raw"
	format "raw"
	truncate false
}
ALSA
run_unit node loaxa-node XDG_CONFIG_HOME=/var/lib/loaxa-node/xdg
n1_online() {
	"$LOAXA" nodes --json 2>/dev/null | jq -e '.nodes[] | select(.node == "n1" and .online == true)' >/dev/null
}
check "the node runs as its unit says (loaxa-node, group audio) and is online" wait_for 30 n1_online ||
	dump_log "$T/node.log" 30

speech "$T/a.wav" "Thông báo thử của gói cài đặt." || exit 1
captured() { cat /var/lib/loaxa-node/capture.raw* 2>/dev/null | tr -d '\000' | wc -c; }
before=$(captured)
"$LOAXA" play "$T/a.wav" --node n1 --wait=60 --json >"$T/play1.json" 2>"$T/play1.err"
check "a broadcast plays on the node (loaxa play --wait exits 0)" [ $? = 0 ] || cat "$T/play1.err"
check "the node played sound" [ "$(captured)" -gt "$before" ]

# A schedule file and its audio in $T, under /tmp: the sandboxed controller
# has a /tmp of its own (PrivateTmp) and no /home, so it could never read
# them; `loaxa schedule apply` sends them as content.
TZ_SITE=$(sed -n 's/^timezone *= *"\([^"]*\)".*/\1/p' /etc/loaxa/controller.cfg)
TZ_SITE=${TZ_SITE:-Asia/Ho_Chi_Minh}
AT=$(TZ=$TZ_SITE date -d "@$(( $(date +%s) + 40 ))" +%H:%M:%S)
mkdir -p "$T/lich/audio"
cp "$T/a.wav" "$T/lich/audio/thong-bao.wav"
cat >"$T/lich/tuan.cfg" <<EOF
items = ( { id = "goi"; title = "Lịch của gói"; content = "audio/thong-bao.wav";
            zones = ["thon-1"]; times = ["$AT"]; } );
EOF
check "the controller cannot see the schedule's directory ($T/lich: its /tmp is private)" \
	nsenter -t "${PID_OF[controller]}" -m test ! -e "$T/lich/tuan.cfg"
before=$(captured)
"$LOAXA" schedule apply "$T/lich/tuan.cfg" >"$T/sched.log" 2>&1
check "loaxa schedule apply sends the schedule and its audio from there (an item at $AT)" [ $? = 0 ] ||
	dump_log "$T/sched.log"
sched_played() {
	"$LOAXA" schedule list --node n1 --json 2>/dev/null |
		jq -e '[.occurrences[] | select(.item == "goi" and .state == "played")] | length >= 1' >/dev/null
}
check "the node plays the scheduled item at $AT" wait_for 120 sched_played ||
	"$LOAXA" schedule list --node n1 2>&1 | head -5 | sed 's/^/#   /'
check "... and sound comes out" [ "$(captured)" -gt "$before" ]

"$LOAXA" key rotate >"$T/rotate.log" 2>&1
check "loaxa key rotate works under the sandbox (the key directory is writable, nothing else)" [ $? = 0 ] ||
	dump_log "$T/rotate.log"
check "the new key is on disk, the controller's alone" mode_is /var/lib/loaxa/keys/controller.key "loaxa:loaxa 600"
before=$(captured)
sleep 1
"$LOAXA" play "$T/a.wav" --node n1 --wait=60 --json >"$T/play2.json" 2>"$T/play2.err"
check "after the rotation a broadcast still plays on the node" [ $? = 0 ] || cat "$T/play2.err"
check "the node played sound after the rotation" [ "$(captured)" -gt "$before" ]
check "nothing outside the writable paths was written: the controller found /etc/loaxa read-only" \
	bash -c "! grep -q 'Read-only file system' '$T/controller.log'"

for d in node controller broker; do stop_checked "$d"; done

# ------------------------------------------------------------ 5. purge
dpkg --purge "${PKGS[@]}" >"$T/purge.log" 2>&1
check "dpkg --purge removes the packages" [ $? = 0 ] || dump_log "$T/purge.log"
check "purge removes the controller's state and the broker's accounts" \
	bash -c '[ ! -e /var/lib/loaxa ] && [ ! -e /etc/loaxa/broker ] && [ ! -e /etc/loaxa/web ] && [ ! -e /etc/loaxa/controller.cfg ]'
finish
