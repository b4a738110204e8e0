#!/bin/bash
# The web console (docs/console.md) in a real headless Chromium (Debian's
# chromium + chromium-driver through /usr/bin/python3 and python3-selenium)
# against real parts: mosquitto, the controller with its HTTPS listener,
# three nodes on the ALSA `file` plugin (n1, n2 in thon-1; n3 in thon-2),
# the emergency clips of scripts/emergency-clips.sh, a Vietnamese speech WAV
# as the browser's fake microphone. tests/web/console_test.py:
#   - logs in; announces a recording to thon-1: n1 and n2 confirm;
#   - a daily 05:30 item: in the week view and in every node's plan;
#   - a drill started and stopped: every node confirms each;
#   - n2 killed (kill -9): offline with an alarm, without reloading;
#   - the month's CSV downloads;
#   each in at most three actions after login, in Vietnamese, no page wider
#   than 360 px; then an operator of thon-1 sees and acts only on thon-1.
# Screenshots of every page at 360 and 1280 px: build/screenshots/.
# Also: every string of the pages has its Vietnamese and English entry.
source "$(dirname "$0")/../lib.sh"
need "$LOAXA" "$CONTROLLER" "$NODE"
for f in /usr/bin/chromium /usr/bin/chromedriver; do
	[ -x "$f" ] || { not_ok "$f is installed (scripts/setup.sh)"; exit 1; }
done
/usr/bin/python3 -c 'import selenium' 2>/dev/null ||
	{ not_ok "python3-selenium is installed (scripts/setup.sh)"; exit 1; }

# WEB_DIR: the console files to serve (default the build's web/: the pages of
# web/ with the i18n/<lang>.json made from po/, as installed); SHOTS: where
# the screenshots go
WEB_DIR=${WEB_DIR:-$LOAXA_BIN/web}
[ -f "$WEB_DIR/index.html" ] && [ -f "$WEB_DIR/i18n/vi.json" ] ||
	{ not_ok "$WEB_DIR holds the console with its i18n/ (make builds it)"; exit 1; }
SHOTS=${SHOTS:-$ROOT/build/screenshots}

# ---------------------------------------------------------------- strings
/usr/bin/python3 "$ROOT/tests/web/msgids.py" "$WEB_DIR" >"$T/msgids.txt"
for l in vi en; do
	missing=$(jq -r --rawfile ids "$T/msgids.txt" \
		'. as $t | $ids | split("\n") | map(select(. != "" and ($t[.] | not))) | .[]' \
		"$WEB_DIR/i18n/$l.json")
	check "$l.json has every string of the pages ($(wc -l <"$T/msgids.txt") msgids)${missing:+; missing: $missing}" \
		[ -z "$missing" ]
done

# ---------------------------------------------------------------- parts
WEB_PORT=$(free_port)
start_broker || exit 1
keygen || exit 1
# the console's certificate as an install makes it (loaxa web-cert)
"$LOAXA" web-cert --dir "$T/web-tls" --host 127.0.0.1 --host localhost >"$T/web-cert.log" 2>&1 ||
	{ fail "loaxa web-cert makes the console's certificate"; dump_log "$T/web-cert.log"; exit 1; }
WEB_CFG="web = { listen = \"127.0.0.1:$WEB_PORT\"; cert = \"$T/web-tls/web.crt\"; key = \"$T/web-tls/web.key\"; root = \"$WEB_DIR\"; };"
# operators' plays wait for an approver, as on a station first-install made
# the villages' titles: what the console and `loaxa nodes` show for the ids
write_controller_cfg "alarms = { offline_s = 3; };" "approval = { levels = [\"normal\"]; };" "$WEB_CFG" \
	'zones = ( { name = "thon-1"; title = "Thôn 1"; }, { name = "thon-2"; title = "Xóm Đông"; } );'
start_controller || exit 1
for n in n1 n2 n3; do
	z=thon-1
	[ "$n" = n3 ] && z=thon-2
	write_node_cfg "$n" "$z"
	# a Vietnamese name with a comma: through the CSV, the XLSX and the pages
	[ "$n" = n1 ] && echo 'label = "Nhà văn hóa thôn 1, cổng chợ";' >>"$T/$n/node.cfg"
	start_node "$n" || exit 1
done
if LOAXA="$LOAXA" "$ROOT/scripts/emergency-clips.sh" --only tone drill flood >"$T/clips.log" 2>&1; then
	ok "the emergency clips are on the controller"
else
	fail "scripts/emergency-clips.sh makes the clips"
	dump_log "$T/clips.log"
fi
for u in op1; do
	head -c 18 /dev/urandom | base64 | tr -d '/+=' >"$T/$u.pw"
done
"$LOAXA" user add op1 --role operator --zone thon-1 --password-file "$T/op1.pw" >"$T/user.log" 2>&1 ||
	{ fail "loaxa user add op1"; dump_log "$T/user.log"; }

cond() { eval "$1"; }
# The villages' titles: in the API beside the ids, and in `loaxa nodes`
"$LOAXA" nodes --json >"$T/nodes.json" 2>&1
check "GET /v1/nodes: each node's zone_titles from controller.cfg, ids kept in zones" \
	jq -e '[.nodes[] | select(.node == "n1" or .node == "n3")] | length == 2 and
		all(.[]; (.node == "n1" and .zones == ["thon-1"] and .zone_titles == {"thon-1": "Thôn 1"}) or
			(.node == "n3" and .zones == ["thon-2"] and .zone_titles == {"thon-2": "Xóm Đông"}))' "$T/nodes.json"
LANG=C "$LOAXA" nodes >"$T/nodes.txt" 2>&1
check "loaxa nodes shows the village's title with its id (Thôn 1 (thon-1), Xóm Đông (thon-2))" \
	cond 'grep -q "^n1 .*Thôn 1 (thon-1)" "$T/nodes.txt" && grep -q "^n3 .*Xóm Đông (thon-2)" "$T/nodes.txt"'

# A technician's schedule file, with comments, applied with the CLI: the
# console must send it back as it is when it adds its own item.
cat >"$T/tech.cfg" <<'EOF2'
# Lịch của kỹ thuật viên - chương trình chiều (đừng xóa dòng này)
items = (
  { id = "chieu"; title = "Chương trình buổi chiều";
    text = "Chương trình phát thanh buổi chiều."; zones = ["all"];
    times = ["17:00"]; days = "daily"; }   # giờ cố định theo UBND xã
);
EOF2
"$LOAXA" schedule apply "$T/tech.cfg" >"$T/tech.log" 2>&1 ||
	{ fail "loaxa schedule apply tech.cfg"; dump_log "$T/tech.log"; }

speech "$T/mic.wav" "Thông báo của ủy ban nhân dân xã: mời bà con đi tiêm phòng cho gia súc." || exit 1

# The console's address: the controller's HTTPS listener
URL="https://127.0.0.1:$WEB_PORT/"
CACERT=$T/web-tls/ca.crt
web_up() { curl -s --cacert "$CACERT" -o /dev/null "$URL"; }
check "the console answers at $URL" wait_for 20 web_up || exit 1

mkdir -p "$SHOTS"
/usr/bin/python3 "$ROOT/tests/web/console_test.py" --url "$URL" ${CACERT:+--cacert "$CACERT"} \
	--admin "admin:$T/admin.pw" --operator "op1:$T/op1.pw" \
	--village thon-1 --village-title "Thôn 1" --village-nodes n1,n2 --other-village thon-2 --other-nodes n3 \
	--kill-node "n2:${PID_OF[n2]}" --mic "$T/mic.wav" \
	--downloads "$T/downloads" --shots "$SHOTS" 2>"$T/selenium.log" || TEST_FAILED=1
grep -q . "$T/selenium.log" && { diag "selenium/chromium stderr:"; tail -n 20 "$T/selenium.log" | sed 's/^/#   /'; }
# The schedule as the console left it: the technician's file byte for byte
# (comments kept), the console's own file beside it with the 05:30 item,
# and the whole still passes `loaxa schedule check`.
api_curl "http://loaxa/v1/schedule/files" >"$T/files.json"
check "the technician's tech.cfg is applied again unchanged, comments and all" \
	jq -e --rawfile t "$T/tech.cfg" '[.files[] | select(.name | endswith("tech.cfg")) | .text == $t] == [true]' "$T/files.json"
jq -r '.files[] | select(.name == "console.cfg") | .text' "$T/files.json" >"$T/console.cfg"
check "the console's own console.cfg holds the 05:30 item" grep -q 'times = \["05:30"\]' "$T/console.cfg"
check "loaxa schedule check passes on tech.cfg + console.cfg as applied" \
	"$LOAXA" schedule check "$T/tech.cfg" "$T/console.cfg"

# The workbook the browser made, read by LibreOffice (as an official's Excel
# would): converted back to CSV it holds what the controller's CSV holds.
csv=$(ls "$T"/downloads/*.csv 2>/dev/null | head -n1)
xlsx=$(ls "$T"/downloads/*.xlsx 2>/dev/null | head -n1)
if [ -n "$xlsx" ] && command -v soffice >/dev/null; then
	export HOME=$T/home
	mkdir -p "$HOME" "$T/back"
	soffice -env:UserInstallation=file://$T/lo --headless \
		--convert-to 'csv:Text - txt - csv (StarCalc):44,34,76,1' --outdir "$T/back" "$xlsx" \
		>"$T/lo.log" 2>&1
	back=$T/back/$(basename "${xlsx%.xlsx}").csv
	# both as plain cells: no BOM, no quotes, numbers compared as numbers
	# (LibreOffice writes 1.0000 as 1)
	norm() {
		sed '1s/^\xef\xbb\xbf//; s/"//g; s/\r$//' "$1" |
			awk -F, -v OFS=, '{ for (i = 1; i <= NF; i++) if ($i ~ /^-?[0-9]+(\.[0-9]+)?$/) $i = $i + 0; print }'
	}
	if [ -s "$back" ] && diff <(norm "$csv") <(norm "$back") >"$T/xlsx.diff"; then
		ok "LibreOffice opens the console's XLSX: the same rows as the controller's CSV"
	else
		not_ok "LibreOffice opens the console's XLSX: the same rows as the controller's CSV"
		dump_log "$T/xlsx.diff"
		dump_log "$T/lo.log"
	fi
fi
# n2 was killed by the browser test (its pid, started here): nothing to stop
kill -0 "${PID_OF[n2]}" 2>/dev/null || unset 'PID_OF[n2]'
finish
