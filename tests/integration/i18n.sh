#!/bin/bash
# The CLI and the daemons in Vietnamese when the locale asks for it, English
# otherwise (issue 15 point 3, docs/i18n.md), with real parts: mosquitto on a
# loopback port, the controller, node n1 (thon-1).
#   - the catalogs: msgfmt --check passes on po/vi.po; every msgid of the
#     sources (and web/strings.txt) has a translation there, and po/loaxa.pot
#     is the sources' (a string added without translation fails here; the
#     check is shown to fail on a pot with one more string);
#   - every API error format the CLI translates still exists in controller/;
#   - LANG=vi_VN.UTF-8 loaxa nodes: Vietnamese headings and values, the
#     columns aligned in characters, not bytes; LANG=C: English; LANGUAGE=en
#     wins over LANG; this works without the vi_VN locale generated;
#   - errors: the CLI's own (unknown node) and the controller's (a wrong
#     password; an unknown node's command, a formatted one) in Vietnamese;
#   - loaxa drafts, node show, schedule check (valid, and with an error),
#     and a drill started and stopped (emergency start --drill, stop);
#   - a node started under LANG=vi_VN.UTF-8 logs its start in Vietnamese;
#   - the web console's strings: web/strings.txt is every string the pages
#     use (tests/web/msgids.py), so the catalog check covers them, and
#     build/web/i18n/{en,vi}.json hold every line of it.
source "$(dirname "$0")/../lib.sh"
need "$LOAXA" "$CONTROLLER" "$NODE"

has() { grep -qF -- "$2" "$1"; }
cond() { eval "$1"; }
VI=(env LANG=vi_VN.UTF-8)
EN=(env LANG=C)

# ---------------------------------------------------------------- catalogs
check "msgfmt --check passes on po/vi.po" msgfmt --check -o "$T/vi.mo" "$ROOT/po/vi.po"
make -s -C "$ROOT" O="$T/potbuild" potfile >"$T/pot.log" 2>&1
check "the catalog template is made from the sources (make potfile)" [ -s "$T/potbuild/po/loaxa.pot" ]
# msgids: every msgid of a po/pot file, one a line (C-escaped, as in the file)
msgids() {
	msgcat --no-wrap --no-location --sort-output "$1" 2>/dev/null |
		awk '/^msgid /{id=substr($0, 8, length($0) - 8); next}
		     /^msgstr /{ if (id != "") print id; id="" }'
}
# untranslated PO POT: the msgids of POT without a (non-fuzzy) translation in PO
untranslated() {
	msgmerge --quiet --no-fuzzy-matching "$1" "$2" -o "$T/merged.po" 2>/dev/null &&
		{ msgattrib --untranslated "$T/merged.po"; msgattrib --only-fuzzy "$T/merged.po"; } |
		msgids /dev/stdin
}
untranslated "$ROOT/po/vi.po" "$T/potbuild/po/loaxa.pot" >"$T/untranslated.txt"
n=$(msgids "$T/potbuild/po/loaxa.pot" | wc -l)
check "every one of the $n msgids of the sources is translated in po/vi.po ($(wc -l <"$T/untranslated.txt") not)" \
	[ ! -s "$T/untranslated.txt" ]
[ -s "$T/untranslated.txt" ] && diag "untranslated: $(head -5 "$T/untranslated.txt")"
# the check can fail: a pot with one more string
{ cat "$T/potbuild/po/loaxa.pot"; printf '\nmsgid "a new string nobody translated"\nmsgstr ""\n'; } >"$T/plus.pot"
untranslated "$ROOT/po/vi.po" "$T/plus.pot" >"$T/untranslated2.txt"
check "... and a new string without translation is found" \
	cond '[ "$(cat "$T/untranslated2.txt")" = "a new string nobody translated" ]'
msgids "$ROOT/po/loaxa.pot" >"$T/ids.committed"
msgids "$T/potbuild/po/loaxa.pot" >"$T/ids.sources"
check "po/loaxa.pot has the sources' msgids (else: make pot)" cmp -s "$T/ids.committed" "$T/ids.sources"

# The controller writes its errors in English; the CLI translates the ones it
# lists by their format (cli/client.c api_errors). Each must still be a
# string in controller/*.c, or the translation silently stops matching.
xgettext -k --keyword=N_ --from-code=UTF-8 --language=C -o "$T/cli-api.pot" "$ROOT/cli/client.c" 2>/dev/null
xgettext -a --from-code=UTF-8 --language=C -o "$T/ctl-all.pot" "$ROOT"/controller/*.c 2>/dev/null
msgids "$T/ctl-all.pot" >"$T/ctl.ids"
msgids "$T/cli-api.pot" >"$T/cli-api.ids"
check "the CLI's list of API errors is not empty ($(wc -l <"$T/cli-api.ids"))" [ -s "$T/cli-api.ids" ]
comm -23 <(sort "$T/cli-api.ids") <(sort "$T/ctl.ids") >"$T/gone.ids"
check "every API error the CLI translates is still written by the controller" [ ! -s "$T/gone.ids" ]
[ -s "$T/gone.ids" ] && diag "not in controller/: $(cat "$T/gone.ids")"

# ---------------------------------------------------------------- web console strings
# web/strings.txt must be every string the pages use (tests/web/msgids.py
# reads web/js and web/index.html), so that the "every msgid translated"
# check above covers the console: a t('...') added to a page without its
# line in web/strings.txt fails here.
/usr/bin/python3 "$ROOT/tests/web/msgids.py" "$ROOT/web" >"$T/page-ids.txt"
grep -v '^#' "$ROOT/web/strings.txt" | grep -v '^$' | sort -u >"$T/listed-ids.txt"
comm -23 <(sort -u "$T/page-ids.txt") "$T/listed-ids.txt" >"$T/unlisted-ids.txt"
check "web/strings.txt lists every string of the pages ($(wc -l <"$T/page-ids.txt") msgids)" \
	cond '[ -s "$T/page-ids.txt" ] && [ ! -s "$T/unlisted-ids.txt" ]'
[ -s "$T/unlisted-ids.txt" ] && diag "not in web/strings.txt: $(tr '\n' '|' <"$T/unlisted-ids.txt")"
for l in en vi; do
	check "build's web/i18n/$l.json is JSON with every line of web/strings.txt" \
		cond 'grep -v "^#" "$ROOT/web/strings.txt" | grep -v "^\$" | jq -R . |
			jq -s --slurpfile m "$LOAXA_BIN/web/i18n/'$l'.json" "all(.[]; . as \$k | \$m[0] | has(\$k))" | grep -qx true'
done
jqtrue() { jq -e "$1" "$2" >/dev/null 2>&1; }
check "vi.json: \"Announce now\" is \"Phát ngay\", \"Emergency\" is \"Khẩn cấp\"" \
	jqtrue '.["Announce now"] == "Phát ngay" and .["Emergency"] == "Khẩn cấp"' "$LOAXA_BIN/web/i18n/vi.json"
check "vi.json: no string left in English" \
	jqtrue 'to_entries | all(.key != .value)' "$LOAXA_BIN/web/i18n/vi.json"
check "en.json: every string is itself" jqtrue 'to_entries | all(.key == .value)' "$LOAXA_BIN/web/i18n/en.json"
printf '# a comment\n\nSay "hi" \\ now\nLog in\nLog in\n' >"$T/odd-strings.txt"
"$LOAXA_BIN/loaxa-webstrings" vi "$T/odd-strings.txt" >"$T/odd.json" 2>"$T/odd.err"
check "quotes and backslashes are escaped, comments skipped, a repeated line is one key" \
	jqtrue '(keys == ["Log in", "Say \"hi\" \\ now"]) and .["Log in"] == "Đăng nhập"' "$T/odd.json"
printf 'Log in\n\xff\xfe bad\n' >"$T/bad-strings.txt"
"$LOAXA_BIN/loaxa-webstrings" vi "$T/bad-strings.txt" >"$T/bad.json" 2>"$T/bad.err"
rc=$?
check "loaxa-webstrings refuses text that is not UTF-8, naming the line (exit $rc)" \
	cond '[ "$rc" != 0 ] && has "$T/bad.err" "bad-strings.txt:2: not UTF-8 text"'

# ---------------------------------------------------------------- daemons
locale -a 2>/dev/null | grep -qi '^vi_VN' && diag "vi_VN is generated here" ||
	diag "vi_VN is not generated here: the fallback through LANGUAGE is what runs"
start_broker || exit 1
keygen || exit 1
write_controller_cfg 'zones = ( { name = "thon-1"; } );'
start_controller || exit 1
write_node_cfg n1 thon-1
start_node n1 || exit 1

"${VI[@]}" "$LOAXA" nodes >"$T/vi.out" 2>&1
rc=$?
check "LANG=vi_VN.UTF-8 loaxa nodes works (exit $rc)" [ "$rc" = 0 ]
head=$(head -1 "$T/vi.out")
row=$(grep -m1 '^n1 ' "$T/vi.out")
check "Vietnamese headings: CỤM LOA, VÙNG, KẾT NỐI, LIÊN LẠC CUỐI, ĐANG PHÁT, LỆCH GIỜ, CẢNH BÁO" \
	cond '[[ "$head" == "CỤM LOA"*"VÙNG"*"KẾT NỐI"*"LIÊN LẠC CUỐI"*"ĐANG PHÁT"*"LỆCH GIỜ"*"TÍN HIỆU"*"PHIÊN BẢN"*"CẢNH BÁO" ]]'
check "Vietnamese values: online \"có\", last seen \"... giây trước\"" \
	cond '[[ "$row" == *"  có  "*" giây trước"* ]]'
# columns line up in characters: "VÙNG" starts where "thon-1" does, though
# "CỤM LOA" is 7 characters and 10 bytes
hp=${head%%VÙNG*}
rp=${row%%thon-1*}
check "columns counted in characters, not bytes (VÙNG at ${#hp}, thon-1 at ${#rp})" \
	cond '[ "${#hp}" = "${#rp}" ] && [ "${#hp}" -gt 0 ]'
hp=${head%%KẾT NỐI*}
rp=${row%%  có  *}
check "... and after two Vietnamese headings (KẾT NỐI at ${#hp}, có at $(( ${#rp} + 2 )))" \
	cond '[ "${#hp}" = "$(( ${#rp} + 2 ))" ]'
check "no English heading left" cond '! grep -qE "NODE|ZONES|ONLINE|LAST SEEN" "$T/vi.out"'

"${EN[@]}" "$LOAXA" nodes >"$T/en.out" 2>&1
check "LANG=C loaxa nodes: English headings and values" \
	cond '[[ "$(head -1 "$T/en.out")" == "NODE"*"ZONES"*"ONLINE"*"LAST SEEN"* ]] && grep -q "^n1 .*  yes  .* s ago" "$T/en.out"'
check "... and no Vietnamese" cond '! grep -q "CỤM LOA\|giây" "$T/en.out"'
env LANG=vi_VN.UTF-8 LANGUAGE=en "$LOAXA" nodes >"$T/lang-en.out" 2>&1
check "LANGUAGE=en wins over LANG=vi_VN.UTF-8 (gettext's order)" \
	cond '[[ "$(head -1 "$T/lang-en.out")" == "NODE"* ]]'
env LC_ALL=vi_VN.UTF-8 "$LOAXA" nodes >"$T/lcall.out" 2>&1
check "LC_ALL=vi_VN.UTF-8 asks for Vietnamese too" cond '[[ "$(head -1 "$T/lcall.out")" == "CỤM LOA"* ]]'
env LANG=vi_VN.UTF-8 LOAXA_LOCALEDIR="$T/nowhere" "$LOAXA" nodes >"$T/nocat.out" 2>&1
check "without a catalog: English, no error" cond '[[ "$(head -1 "$T/nocat.out")" == "NODE"* ]]'

# errors: the CLI's own
speech "$T/a.wav" "Thông báo của ủy ban nhân dân xã." || exit 1
"${VI[@]}" "$LOAXA" play "$T/a.wav" --node n9 >"$T/p.out" 2>&1
rc=$?
check "an unknown node, in Vietnamese: máy điều khiển không biết cụm loa \"n9\" (exit $rc)" \
	cond '[ "$rc" != 0 ] && has "$T/p.out" "máy điều khiển không biết cụm loa \"n9\"" && has "$T/p.out" "chưa nhập và chưa gửi gì"'
"${EN[@]}" "$LOAXA" play "$T/a.wav" --node n9 >"$T/p-en.out" 2>&1
check "... in English under LANG=C" has "$T/p-en.out" "node \"n9\" is not known to this controller"
# the controller's, fixed and formatted
printf 'not-the-password\n' >"$T/wrong.pw"
"${VI[@]}" LOAXA_TOKEN_FILE="$T/other-token" "$LOAXA" login admin --password-file "$T/wrong.pw" >"$T/l.out" 2>&1
check "the controller's \"wrong user name or password\" in Vietnamese" \
	has "$T/l.out" "sai tên đăng nhập hoặc mật khẩu"
"${VI[@]}" "$LOAXA" node volume n9 50 >"$T/v.out" 2>&1
rc=$?
check "a formatted API error (no node \"n9\" is known ...) in Vietnamese (exit $rc)" \
	cond '[ "$rc" != 0 ] && has "$T/v.out" "máy điều khiển không biết cụm loa nào tên \"n9\""'
"${EN[@]}" "$LOAXA" node volume n9 50 >"$T/v-en.out" 2>&1
check "... and in English under LANG=C" has "$T/v-en.out" "no node \"n9\" is known to this controller"
"${VI[@]}" "$LOAXA" frobnicate >"$T/u.out" 2>&1
check "an unknown command in Vietnamese" has "$T/u.out" "loaxa: không có lệnh \"frobnicate\" (xem loaxa help)"

"${VI[@]}" "$LOAXA" node show n1 >"$T/show.out" 2>&1
check "loaxa node show: labels in Vietnamese, the values in one column" \
	cond 'grep -q "^cụm loa        n1" "$T/show.out" && grep -q "^kết nối        có (liên lạc lần cuối " "$T/show.out" &&
		grep -q "^phiên bản      0.1.0" "$T/show.out"'
"${VI[@]}" "$LOAXA" drafts >"$T/d.out" 2>&1
check "loaxa drafts with none waiting: \"không có bản nháp nào đang chờ duyệt\"" \
	has "$T/d.out" "không có bản nháp nào đang chờ duyệt"
mkdir -p "$T/sched"
printf 'items = (\n  { id = "hop"; text = "Họp thôn."; zones = ["thon-1"]; times = ["05:30"]; }\n);\n' \
	>"$T/sched/ok.cfg"
printf 'items = (\n  { id = "hop"; text = "Họp thôn."; zones = ["thon-1"]; times = ["25:30"]; }\n);\n' \
	>"$T/sched/bad.cfg"
( cd "$T/sched" && "${VI[@]}" "$LOAXA" schedule check ok.cfg ) >"$T/s1.out" 2>&1
rc=$?
check "loaxa schedule check: \"lịch phát hợp lệ: 1 mục\" (exit $rc)" \
	cond '[ "$rc" = 0 ] && has "$T/s1.out" "lịch phát hợp lệ: 1 mục" && has "$T/s1.out" "ngày tới"'
( cd "$T/sched" && "${VI[@]}" "$LOAXA" schedule check bad.cfg ) >"$T/s2.out" 2>&1
rc=$?
check "a schedule with an error: \"lịch phát có lỗi: 1 lỗi\", the line named (exit $rc)" \
	cond '[ "$rc" != 0 ] && has "$T/s2.out" "lịch phát có lỗi: 1 lỗi" && has "$T/s2.out" "bad.cfg:2"'
( cd "$T/sched" && "${EN[@]}" "$LOAXA" schedule check ok.cfg ) >"$T/s3.out" 2>&1
check "... and \"schedule OK: 1 item\" under LANG=C" has "$T/s3.out" "schedule OK: 1 item"

# khẩn cấp: a drill, started and stopped in Vietnamese
"${VI[@]}" "$LOAXA" emergency start "$T/a.wav" --zone thon-1 --drill --max 30s --timeout 20 >"$T/e1.out" 2>&1
rc=$?
check "emergency start --drill: \"đã gửi DIỄN TẬP\", n1 confirms (\"đã phát\"), headings CỤM LOA / ĐÃ XÁC NHẬN (exit $rc)" \
	cond '[ "$rc" = 0 ] && has "$T/e1.out" "đã gửi DIỄN TẬP d-" && has "$T/e1.out" "cả 1 cụm loa đã xác nhận." &&
		grep -q "^CỤM LOA *ĐÃ XÁC NHẬN" "$T/e1.out" && grep -q "^n1 *đã phát " "$T/e1.out"' || dump_log "$T/e1.out"
"${VI[@]}" "$LOAXA" emergency stop --timeout 20 >"$T/e2.out" 2>&1
rc=$?
check "emergency stop: \"đã dừng diễn tập\", n1 confirms it is silent (exit $rc)" \
	cond '[ "$rc" = 0 ] && has "$T/e2.out" "đã dừng diễn tập d-" && has "$T/e2.out" "đã xác nhận là đã im."' ||
	dump_log "$T/e2.out"

# a daemon's operator lines
write_node_cfg n2 thon-1
LANG=vi_VN.UTF-8 start_node n2 || exit 1
check "a node under LANG=vi_VN.UTF-8 logs its start in Vietnamese" \
	has "$T/n2/node.log" "đang khởi động: cụm loa n2 của đài"
check "the controller under the test's default locale logs in English" \
	has "$T/controller/controller.log" "loaxa-controller 0.1.0 starting"

finish
