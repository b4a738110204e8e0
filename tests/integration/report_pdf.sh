#!/bin/bash
# The printable monthly report (issue 16, point 7): `loaxa report --month
# 2026-11 --format pdf -o FILE` gets a PDF made by the controller, and the
# figures it shows are those of the database.
#
# November 2026 for four clusters is published the way nodes publish it
# (retained status with a Vietnamese label, journal events on the real
# broker), so the controller stores it through its normal path: mornings
# aired in two clusters at once, evenings, plays that failed (one of them
# retried and aired), a storm warning in three clusters, an emergency by
# the emergency path (emergency_started/ended), a drill, a long title, a
# title full of format and markup characters, 40 announcements (the list
# runs over several pages) and plays just outside the month, local time.
#
# Then: the file is a PDF (pdfinfo: A4, 3+ pages; pdffonts: DejaVu Sans
# embedded), its text (pdftotext -layout) has the Vietnamese headings, the
# commune of controller.cfg, per cluster the counts that SQL on the
# controller's database gives, and the list of bulletins aired with the
# dates and times (Vietnam time) SQL gives, headings repeated on each page.
# pdftoppm renders every page to PNG under build/test-logs/report_pdf/ for
# a person to look at.
source "$(dirname "$0")/../lib.sh"
need "$LOAXA" "$CONTROLLER"
export TZ=Asia/Ho_Chi_Minh
MONTH=2026-11
OUT=$ROOT/build/test-logs/report_pdf
mkdir -p "$OUT"
rm -f "$OUT"/*.png "$OUT"/*.pdf "$OUT"/*.txt

start_broker || exit 1
keygen || exit 1
# The month's events are dated November 2026: keep them whatever today's
# date is (retention would prune them from early 2029 on).
write_controller_cfg 'commune = "Xã Tân Lập";' 'retention = { events_days = 36500; audit_days = 36500; };'
start_controller || exit 1

declare -A LABEL=(
	[thon-dong]="Thôn Đông – nhà văn hóa"
	[thon-tay]="Thôn Tây (chợ Đình)"
	[xom-moi]='Xóm Mới, "điểm 3"'
	[ben-do]=""
)
NODES="ben-do thon-dong thon-tay xom-moi"
for n in $NODES; do
	jq -cn --arg n "$n" --arg l "${LABEL[$n]}" --arg site "$SITE" --argjson ts "$(now_ms)" \
		'{node:$n, site:$site, online:true, boot:1, version:"0.1.0", zones:[$n],
		  ts:$ts, label:$l, playing:null}' |
		mosquitto_pub -h 127.0.0.1 -p "$BROKER_PORT" -t "loaxa/$SITE/node/$n/status" -r -q 1 -s
done
known_four() { [ "$("$LOAXA" nodes --json 2>/dev/null | jq '.nodes | length')" = 4 ]; }
check "four clusters known from their status" wait_for 10 known_four

/usr/bin/python3 - "$T" <<'EOF'
import json, sys
from datetime import datetime
from zoneinfo import ZoneInfo
tz = ZoneInfo("Asia/Ho_Chi_Minh")
out = {}
seq = {}
C = "b" * 64
def ms(y, mo, d, h, mi, s=0):
    return int(datetime(y, mo, d, h, mi, s, tzinfo=tz).timestamp() * 1000)
def ev(node, typ, occ, at, dur=None, title="", **kw):
    seq[node] = seq.get(node, 0) + 1
    e = {"id": f"{node}-1-{seq[node]}", "node": node, "boot": 1, "type": typ,
         "ts": at + (dur or 0), "content": C, "start": at, "error_ms": 2.0, "reason": ""}
    if occ.startswith("E:"):
        e["broadcast"] = occ[2:]          # the emergency path: a broadcast id
    else:
        e.update(occurrence=occ, plan_seq=5, scheduled=at)
    if dur is not None:
        e["duration_ms"] = dur
    if title:
        e["title"] = title
    if typ == "play_finished":
        e["end"] = "finished"
    if typ == "play_failed":
        e["end"] = "failed"
        e["reason"] = "content not delivered before the item expired"
    e.update(kw)
    out.setdefault(node, []).append(json.dumps(e, ensure_ascii=False))
def aired(node, occ, at, dur, title, **kw):
    ev(node, "play_started", occ, at, None, title, **kw)
    ev(node, "play_finished", occ, at, dur, title, **kw)
for day in range(1, 31):
    # the morning news in two clusters: one occurrence, one bulletin
    s = ms(2026, 11, day, 5, 30)
    aired("thon-dong", f"o-sang-{day}", s, 900000, "Bản tin thời sự buổi sáng", level="normal")
    if day in (3, 9, 15, 21):
        ev("thon-tay", "play_failed", f"o-sang-{day}", s, None, "Bản tin thời sự buổi sáng")
    else:
        aired("thon-tay", f"o-sang-{day}", s + 35, 900000, "Bản tin thời sự buổi sáng",
              level="normal")
    # the evening program in thon-dong: two failed, one failed then aired
    s = ms(2026, 11, day, 17, 0)
    if day in (6, 12):
        ev("thon-dong", "play_failed", f"o-chieu-{day}", s, None, "Chương trình phát thanh chiều")
    elif day == 18:
        ev("thon-dong", "play_failed", f"o-chieu-{day}", s, None, "Chương trình phát thanh chiều")
        aired("thon-dong", f"o-chieu-{day}", s + 60000, 1200000, "Chương trình phát thanh chiều",
              level="normal")
    else:
        aired("thon-dong", f"o-chieu-{day}", s, 1200000, "Chương trình phát thanh chiều",
              level="normal")
# a storm warning in three clusters
s = ms(2026, 11, 14, 14, 2, 7)
for n in ("thon-dong", "thon-tay", "xom-moi"):
    aired(n, "e-bao-so-3", s, 60000, "Cảnh báo bão số 3", level="emergency", drill=False)
# an emergency by the emergency path in ben-do
s = ms(2026, 11, 2, 22, 15, 7)
ev("ben-do", "emergency_started", "E:em-lu-quet", s, None, "Cảnh báo lũ quét", drill=False)
ev("ben-do", "emergency_ended", "E:em-lu-quet", s, 95000, "Cảnh báo lũ quét", drill=False)
# a drill in xom-moi
aired("xom-moi", "e-dien-tap", ms(2026, 11, 20, 9, 0), 45000,
      "Diễn tập phòng cháy chữa cháy", level="emergency", drill=True)
# xom-moi: ten plays never delivered
for i in range(10):
    ev("xom-moi", "play_failed", f"o-x-{i}", ms(2026, 11, 3 + i, 6, 0), None, "Thông báo dịch bệnh")
# ben-do: 40 announcements, a long title, a title of format and markup characters
for i in range(40):
    aired("ben-do", f"o-tb-{i}", ms(2026, 11, 1 + i % 28, 19, i % 60), 180000,
          f"Thông báo số {i + 1} của Ủy ban nhân dân xã", level="normal")
aired("ben-do", "o-dai", ms(2026, 11, 25, 20, 0), 240000,
      "Thông báo về việc tổ chức tiêm chủng mở rộng cho trẻ em dưới năm tuổi tại trạm y tế xã, "
      "đề nghị các bậc phụ huynh đưa con em đến đúng giờ, mang theo sổ tiêm chủng và thẻ bảo hiểm "
      "y tế; mọi thắc mắc xin liên hệ cán bộ y tế thôn hoặc văn phòng Ủy ban nhân dân xã để được "
      "giải đáp kịp thời và đầy đủ nhất có thể", level="normal")
aired("ben-do", "o-ky-tu", ms(2026, 11, 26, 20, 0), 30000,
      '%s%n%x <b>đậm</b> &amp; "trích dẫn" \\ {json}', level="normal")
# just outside November, local time
aired("thon-dong", "o-truoc", ms(2026, 10, 31, 23, 59, 59), 1000, "Tháng trước", level="normal")
aired("thon-dong", "o-sau", ms(2026, 12, 1, 0, 0, 0), 1000, "Tháng sau", level="normal")
for n, lines in out.items():
    with open(f"{sys.argv[1]}/{n}.events", "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
EOF
total=0
for n in $NODES; do
	mosquitto_pub -h 127.0.0.1 -p "$BROKER_PORT" -t "loaxa/$SITE/node/$n/event" -q 1 -l \
		<"$T/$n.events"
	total=$(( total + $(wc -l <"$T/$n.events") ))
done
all_stored() { [ "$("$LOAXA" log --json --limit 100000 2>/dev/null | jq '.events | length')" = "$total" ]; }
check "the controller stored all $total events" wait_for 30 all_stored

# ---------------------------------------------------------------- the PDF
PDF=$OUT/bao-cao-$MONTH.pdf
"$LOAXA" report --month "$MONTH" --format pdf -o "$PDF" >"$T/pdf.out" 2>"$T/pdf.err"
check "loaxa report --month $MONTH --format pdf -o FILE writes the file" [ -s "$PDF" ] ||
	dump_log "$T/pdf.err"
check "it is a PDF" [ "$(head -c 5 "$PDF")" = "%PDF-" ]
pdfinfo "$PDF" >"$T/pdfinfo.txt" 2>&1
PAGES=$(sed -n 's/^Pages: *//p' "$T/pdfinfo.txt")
check "pdfinfo reads it: A4 pages" grep -q '^Page size: *595.276 x 841.89 pts (A4)' "$T/pdfinfo.txt" ||
	dump_log "$T/pdfinfo.txt"
check "the bulletin list runs over several pages ($PAGES)" [ "${PAGES:-0}" -ge 3 ]
pdffonts "$PDF" >"$T/fonts.txt" 2>&1
check "the DejaVu Sans font is embedded (every Vietnamese letter)" \
	grep -qE 'DejaVuSans.* yes +yes' "$T/fonts.txt" || dump_log "$T/fonts.txt"
pdftotext -layout "$PDF" "$OUT/bao-cao-$MONTH.txt"
TXT=$OUT/bao-cao-$MONTH.txt
for s in "UBND XÃ TÂN LẬP" "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" "BÁO CÁO KẾT QUẢ PHÁT THANH" \
	"Tháng 11 năm 2026" "Đài truyền thanh Xã Tân Lập" \
	"từ 01/11/2026 đến 30/11/2026, theo giờ Việt Nam" "I. TỔNG HỢP THEO CỤM LOA" \
	"Thôn Đông – nhà văn hóa" "Trang 1/$PAGES" "Trang $PAGES/$PAGES" "NGƯỜI LẬP BÁO CÁO"; do
	check "the PDF says \"$s\"" grep -qF "$s" "$TXT"
done

# ---------------------------------------------------------------- figures vs SQL
DB=$T/controller/state/loaxa.db
FROM=$(( $(date -d '2026-11-01 00:00:00' +%s) * 1000 ))
TO=$(( $(date -d '2026-12-01 00:00:00' +%s) * 1000 ))
# the month's play and emergency events, each with its play key, as the report defines them
M="(SELECT node, coalesce(occurrence, broadcast, id) AS k, type, duration_ms, level, drill
    FROM events WHERE (type LIKE 'play_%' OR type LIKE 'emergency_%')
    AND coalesce(scheduled, start, ts) >= $FROM AND coalesce(scheduled, start, ts) < $TO)"
sql() { sqlite3 -readonly "$DB" "$1"; }
hms() { local s=$(( ($1 + 500) / 1000 )); printf '%d:%02d:%02d' $((s / 3600)) $((s / 60 % 60)) $((s % 60)); }
# the table part of the text: from its heading to the list's
sed -n '/I\. TỔNG HỢP THEO CỤM LOA/,/II\. DANH SÁCH/p' "$TXT" >"$T/table.txt"
sums=(0 0 0 0 0 0)
for n in $NODES; do
	sched=$(sql "SELECT count(DISTINCT k) FROM $M WHERE node = '$n' AND type LIKE 'play_%'")
	played=$(sql "SELECT count(DISTINCT k) FROM $M WHERE node = '$n' AND type = 'play_finished'")
	failed=$(sql "SELECT count(DISTINCT k) FROM $M WHERE node = '$n' AND type = 'play_failed'
		AND k NOT IN (SELECT k FROM $M WHERE node = '$n' AND type = 'play_finished')")
	air=$(sql "SELECT coalesce(sum(duration_ms), 0) FROM $M WHERE node = '$n'
		AND type IN ('play_finished', 'play_failed', 'play_preempted')")
	em=$(sql "SELECT count(DISTINCT k) FROM $M WHERE node = '$n' AND drill = 0
		AND (level = 'emergency' OR type LIKE 'emergency_%')")
	dr=$(sql "SELECT count(DISTINCT k) FROM $M WHERE node = '$n' AND drill = 1")
	want="$sched $played $failed $(hms "$air") $em $dr"
	# the row: the node id first, then the numbers; the ratio ("95,2 %") left out
	got=$(awk -v n="$n" '$1 == n { print $2, $3, $4, $(NF-2), $(NF-1), $NF; exit }' "$T/table.txt")
	check "$n: the PDF shows scheduled, aired, failed, airtime, emergencies, drills = SQL ($want)" \
		[ "$got" = "$want" ] || diag "the PDF shows: $got"
	sums=($((sums[0] + sched)) $((sums[1] + played)) $((sums[2] + failed)) $((sums[3] + air))
		$((sums[4] + em)) $((sums[5] + dr)))
done
want="${sums[0]} ${sums[1]} ${sums[2]} $(hms "${sums[3]}") ${sums[4]} ${sums[5]}"
got=$(awk '$1 == "Tổng" && $2 == "cộng" { print $3, $4, $5, $(NF-2), $(NF-1), $NF; exit }' "$T/table.txt")
check "the total row = SQL's sums ($want)" [ "$got" = "$want" ] || diag "the PDF shows: $got"
# known by construction too, so a shared mistake of the report and this SQL shows
check "the known counts: thon-dong 61 scheduled, 59 aired, 2 failed, 1 emergency" \
	awk '$1 == "thon-dong" && $2 == 61 && $3 == 59 && $4 == 2 && $(NF-1) == 1 { f = 1 } END { exit !f }' "$T/table.txt"
check "the known counts: ben-do 42 aired, 1 emergency by the emergency path" \
	awk '$1 == "ben-do" && $3 == 42 && $(NF-1) == 1 { f = 1 } END { exit !f }' "$T/table.txt"
pct=$(awk '$1 == "thon-dong" { for (i = 5; i < NF; i++) if ($(i + 1) == "%") { print $i; exit } }' "$T/table.txt")
check "thon-dong's ratio is 59/61 written the Vietnamese way (96,7 %)" [ "$pct" = "96,7" ] ||
	diag "the PDF shows: $pct"

# ---------------------------------------------------------------- the bulletin list
# aired = a play_finished or an emergency that started; one row per play key,
# at its first start, Vietnam time (UTC+7, no summer time)
sql "SELECT strftime('%d/%m/%Y %H:%M:%S', min(coalesce(start, scheduled, ts)) / 1000,
	'unixepoch', '+7 hours') FROM events WHERE type IN ('play_finished', 'emergency_started')
	AND coalesce(scheduled, start, ts) >= $FROM AND coalesce(scheduled, start, ts) < $TO
	GROUP BY coalesce(occurrence, broadcast, id) ORDER BY 1" >"$T/aired.sql"
sed -n '/II\. DANH SÁCH BẢN TIN ĐÃ PHÁT/,$p' "$TXT" >"$T/list.txt"
grep -E '^ *[0-9]+ +[0-9]{2}/[0-9]{2}/[0-9]{4} +[0-9]{2}:[0-9]{2}:[0-9]{2} ' "$T/list.txt" >"$T/rows.txt"
awk '{ print $2, $3 }' "$T/rows.txt" | sort >"$T/aired.pdf"
sort -o "$T/aired.sql" "$T/aired.sql"
N=$(wc -l <"$T/aired.sql")
check "the list has one row per bulletin aired, $N as SQL counts" [ "$(wc -l <"$T/rows.txt")" = "$N" ]
check "the list's dates and times (Vietnam time) are those of SQL" cmp -s "$T/aired.pdf" "$T/aired.sql" ||
	diff "$T/aired.sql" "$T/aired.pdf" | head -10 | sed 's/^/#   /'
check "its heading counts them: ($N bản tin)" grep -qF "II. DANH SÁCH BẢN TIN ĐÃ PHÁT ($N bản tin)" "$TXT"
check "rows are numbered 1..$N" [ "$(awk '{ print $1 }' "$T/rows.txt" | tr '\n' ' ')" = "$(seq -s ' ' 1 "$N") " ]
check "the storm warning: 14/11/2026 14:02:07, its title, an emergency" \
	grep -qE '14/11/2026 +14:02:07 +Cảnh báo bão số 3 +Khẩn cấp' "$T/rows.txt"
check "the emergency by the emergency path: 02/11/2026 22:15:07, its title" \
	grep -qE '02/11/2026 +22:15:07 +Cảnh báo lũ quét +Khẩn cấp +ben-do' "$T/rows.txt"
check "the drill: 20/11/2026 09:00:00, a drill" \
	grep -qE '20/11/2026 +09:00:00 +Diễn tập phòng cháy chữa cháy +Diễn tập' "$T/rows.txt"
check "a title of format and markup characters is printed as typed" \
	sh -c "grep -A1 -F '%s%n%x <b>đậm</b> &amp; \"trích' '$T/list.txt' | grep -qF 'dẫn\" \\ {json}'"
# the long title stops at three lines: its row and two more before the next
# row (the cut text stays in the PDF as the ellipsis' ActualText, so
# pdftotext still prints it on the third line; the PNG shows the "…")
long_lines=$(awk '/Thông báo về việc tổ chức tiêm/ { on = 1; n = 1; next }
	on && /^ *[0-9]+ +[0-9][0-9]\/|^ *$|Trang [0-9]/ { exit } on { n++ } END { print n + 0 }' "$T/list.txt")
check "a long title takes three lines, no more ($long_lines)" [ "$long_lines" = 3 ]
check "the morning news aired in two clusters is one row naming both" \
	grep -qE '01/11/2026 +05:30:00 +Bản tin thời sự buổi sáng +Thường +thon-dong, thon-tay' "$T/rows.txt"
check "nothing from October or December is listed" \
	sh -c "[ -s '$T/rows.txt' ] && ! grep -qE 'Tháng trước|Tháng sau|/10/2026|/12/2026 ' '$T/rows.txt'"
heads=0
for p in $(seq 2 "$PAGES"); do
	pdftotext -layout -f "$p" -l "$p" "$PDF" - | grep -qE '^ *STT +Ngày +Giờ +Tiêu đề' && heads=$((heads + 1))
done
# the last page may hold only the signatures
heads_ok() { [ "${PAGES:-0}" -ge 3 ] && [ "$heads" -ge $((PAGES - 2)) ]; }
check "the list's headings are repeated on the pages it continues on ($heads of $((${PAGES:-0} - 1)))" heads_ok

# ---------------------------------------------------------------- PNG
pdftoppm -r 100 -png "$PDF" "$OUT/bao-cao-$MONTH" 2>"$T/pdftoppm.err"
npng=$(find "$OUT" -name "bao-cao-$MONTH-*.png" -size +10k | wc -l)
check "pdftoppm renders all $PAGES pages to PNG ($npng)" [ "$npng" = "$PAGES" ] || dump_log "$T/pdftoppm.err"
diag "rendered: $(find "$OUT" -name "bao-cao-$MONTH-*.png" | sort | tr '\n' ' ')"

# ---------------------------------------------------------------- refusals
"$LOAXA" report --month 2026-13 --format pdf -o "$T/bad.pdf" >/dev/null 2>"$T/bad.err"
check "a month 2026-13 is refused with the form named, no file written" \
	sh -c "grep -q 'YYYY-MM' '$T/bad.err' && [ ! -e '$T/bad.pdf' ]"
"$LOAXA" report --month "$MONTH" --format xls >/dev/null 2>"$T/fmt.err"
check "an unknown format is refused, naming the ones there are" grep -q 'table, csv, json or pdf' "$T/fmt.err"
# the report covers every cluster: an operator of one zone may not have it
printf 'operator-pw-1\n' >"$T/op1.pw"
"$LOAXA" user add op1 --role operator --zone thon-dong --password-file "$T/op1.pw" >/dev/null
LOAXA_TOKEN_FILE=$T/op1-token "$LOAXA" login op1 --password-file "$T/op1.pw" >/dev/null
code=$(http_status GET "/v1/report?month=$MONTH&format=pdf" "$(cat "$T/op1-token" 2>/dev/null)")
check "an operator of one zone gets 403 for the PDF, it covers the whole station ($code)" \
	sh -c "[ '$code' = 403 ] && grep -q 'whole station' '$T/resp.json'"
check "the CSV still answers" sh -c "'$LOAXA' report --month $MONTH --csv | grep -q '^\"$MONTH\",\"thon-dong\"'"

stop_all_checked
finish
