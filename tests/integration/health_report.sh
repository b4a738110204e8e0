#!/bin/bash
# Acceptance (d) and (e): the monthly report and /metrics.
#
# The test builds November 2026 of recorded plays for three clusters whose
# names are Vietnamese, by publishing what nodes publish (retained status
# with a label, journal events) on the real broker, as nodes do after an
# outage: the controller stores them through its normal path. Known counts:
#   thon-dong  62 scheduled (60 + one emergency + one drill), 59 played,
#              3 failed (expired), airtime 57 x 300 s + 60 s + 45 s
#   thon-tay   20 scheduled, 20 played, airtime 20 x 120 s; plus one play on
#              31 Oct 23:59 and one on 1 Dec 00:00 local time (outside) and
#              every event published twice (stored once)
#   xom-moi    10 scheduled, 0 played, 10 failed
# Then: `loaxa report --month 2026-11 --json` has those counts; --csv has
# them too, converts to xlsx with `soffice --headless --convert-to xlsx`,
# and converting that back to CSV gives the Vietnamese names intact;
# `/metrics` passes `promtool check metrics`.
source "$(dirname "$0")/../lib.sh"
need "$LOAXA" "$CONTROLLER"
export TZ=Asia/Ho_Chi_Minh

start_broker || exit 1
keygen || exit 1
write_controller_cfg
start_controller || exit 1

declare -A LABEL=(
	[thon-dong]="Thôn Đông – nhà văn hóa"
	[thon-tay]="Thôn Tây (chợ Đình)"
	[xom-moi]='Xóm Mới, "điểm 3"'
)
for n in thon-dong thon-tay xom-moi; do
	jq -cn --arg n "$n" --arg l "${LABEL[$n]}" --arg site "$SITE" --argjson ts "$(now_ms)" \
		'{node:$n, site:$site, online:true, boot:1, version:"0.1.0", zones:[$n],
		  ts:$ts, label:$l, playing:null}' |
		mosquitto_pub -h 127.0.0.1 -p "$BROKER_PORT" -t "loaxa/$SITE/node/$n/status" -r -q 1 -s
done
known_three() { [ "$("$LOAXA" nodes --json 2>/dev/null | jq '.nodes | length')" = 3 ]; }
check "three clusters known from their status" wait_for 10 known_three

/usr/bin/python3 - "$T" <<'EOF'
import json, sys
from datetime import datetime
from zoneinfo import ZoneInfo
tz = ZoneInfo("Asia/Ho_Chi_Minh")
out = {}
def ms(y, mo, d, h, mi):
    return int(datetime(y, mo, d, h, mi, tzinfo=tz).timestamp() * 1000)
def ev(node, seq, typ, occ, sched, **kw):
    e = {"id": f"{node}-1-{seq}", "node": node, "boot": 1, "type": typ, "ts": sched,
         "occurrence": occ, "plan_seq": 5, "scheduled": sched, "reason": ""}
    e.update(kw)
    out.setdefault(node, []).append(json.dumps(e, ensure_ascii=False))
C = "a" * 64
seq = {"thon-dong": 0, "thon-tay": 0, "xom-moi": 0}
def nxt(n):
    seq[n] += 1
    return seq[n]
# thon-dong: 30 days x 2 items; 3 of them expire unplayed
k = 0
for day in range(1, 31):
    for hour in (5, 17):
        s = ms(2026, 11, day, hour, 30)
        occ = f"o-sang-{day}-{hour}"
        k += 1
        if k in (7, 20, 41):
            ev("thon-dong", nxt("thon-dong"), "play_failed", occ, s, content=C,
               reason="expired", end="failed", level="normal")
            continue
        ev("thon-dong", nxt("thon-dong"), "play_started", occ, s, content=C, start=s + 12,
           error_ms=2.5, level="normal", title="Chương trình sáng")
        ev("thon-dong", nxt("thon-dong"), "play_finished", occ, s, content=C, start=s + 12,
           error_ms=2.5, duration_ms=300000, end="finished", level="normal",
           title="Chương trình sáng")
s = ms(2026, 11, 14, 14, 2)
ev("thon-dong", nxt("thon-dong"), "play_finished", "e-bao-so-3", s, content=C, start=s,
   error_ms=1.0, duration_ms=60000, end="finished", level="emergency", drill=False,
   title="Cảnh báo bão số 3")
s = ms(2026, 11, 20, 9, 0)
ev("thon-dong", nxt("thon-dong"), "play_finished", "e-dien-tap", s, content=C, start=s,
   error_ms=1.0, duration_ms=45000, end="finished", level="emergency", drill=True,
   title="Diễn tập")
# thon-tay: 20 played, plus two just outside November
for i in range(20):
    s = ms(2026, 11, 1 + i, 18, 0)
    ev("thon-tay", nxt("thon-tay"), "play_finished", f"o-toi-{i}", s, content=C, start=s + 5,
       error_ms=3.0, duration_ms=120000, end="finished", level="normal")
for s in (ms(2026, 10, 31, 23, 59), ms(2026, 12, 1, 0, 0)):
    ev("thon-tay", nxt("thon-tay"), "play_finished", f"o-ngoai-{s}", s, content=C, start=s,
       error_ms=3.0, duration_ms=120000, end="finished", level="normal")
out["thon-tay"] = out["thon-tay"] + out["thon-tay"]  # everything twice
# xom-moi: 10 failed
for i in range(10):
    s = ms(2026, 11, 3 + i, 6, 0)
    ev("xom-moi", nxt("xom-moi"), "play_failed", f"o-x-{i}", s, content=C,
       reason="content not delivered before the item expired", end="failed")
for n, lines in out.items():
    with open(f"{sys.argv[1]}/{n}.events", "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
EOF
total=0
for n in thon-dong thon-tay xom-moi; do
	mosquitto_pub -h 127.0.0.1 -p "$BROKER_PORT" -t "loaxa/$SITE/node/$n/event" -q 1 -l \
		<"$T/$n.events"
	total=$(( total + $(sort -u "$T/$n.events" | wc -l) ))
done
all_stored() { [ "$("$LOAXA" log --json --limit 100000 2>/dev/null | jq '.events | length')" = "$total" ]; }
check "the controller stored all $total distinct events once" wait_for 20 all_stored

"$LOAXA" report --month 2026-11 --json >"$T/report.json" 2>"$T/report.err"
expect() { # NODE FIELD VALUE
	local got
	got=$(jq -r --arg n "$1" --arg f "$2" '.clusters[] | select(.node == $n) | .[$f]' "$T/report.json")
	check "report 2026-11: $1 $2 = $3" [ "$got" = "$3" ] || diag "got $got"
}
expect thon-dong scheduled 62
expect thon-dong played 59
expect thon-dong failed 3
expect thon-dong emergencies 1
expect thon-dong drills 1
expect thon-dong airtime_ms $(( 57 * 300000 + 60000 + 45000 ))
expect thon-tay scheduled 20
expect thon-tay played 20
expect thon-tay failed 0
expect thon-tay airtime_ms $(( 20 * 120000 ))
expect xom-moi scheduled 10
expect xom-moi played 0
expect xom-moi failed 10
expect xom-moi label "${LABEL[xom-moi]}"
ratio_ok() { jq -e '.clusters[] | select(.node == "thon-dong") | (.success_ratio * 62 | round) == 59' "$T/report.json" >/dev/null; }
check "success ratio of thon-dong is 59/62" ratio_ok
"$LOAXA" report --month 2026-13 >/dev/null 2>"$T/bad.err"
check "a month 2026-13 is refused with the expected format named" grep -q 'YYYY-MM' "$T/bad.err"

"$LOAXA" report --month 2026-11 --csv >"$T/report.csv" 2>"$T/csv.err"
check "the CSV has a header and three clusters" [ "$(wc -l <"$T/report.csv")" = 4 ]
check "CSV row of thon-dong: 62 scheduled, 59 played, 3 failed, 17205 s, 1 emergency, 1 drill" \
	grep -q '^"2026-11","thon-dong","Thôn Đông – nhà văn hóa","thon-dong",62,59,3,0.9516,17205.0,1,1' "$T/report.csv"
check "CSV quotes a label with a comma and quotes" \
	grep -qF '"Xóm Mới, ""điểm 3"""' "$T/report.csv"

# LibreOffice: CSV (UTF-8, filter token 76) -> xlsx -> CSV
export HOME=$T/home
mkdir -p "$HOME" "$T/xlsx" "$T/back"
LO="soffice -env:UserInstallation=file://$T/lo --headless"
$LO --infilter="CSV:44,34,76,1" --convert-to xlsx --outdir "$T/xlsx" "$T/report.csv" \
	>"$T/lo1.log" 2>&1
check "soffice --headless --convert-to xlsx converts the report" [ -s "$T/xlsx/report.xlsx" ] ||
	dump_log "$T/lo1.log"
$LO --convert-to 'csv:Text - txt - csv (StarCalc):44,34,76,1' --outdir "$T/back" \
	"$T/xlsx/report.xlsx" >"$T/lo2.log" 2>&1
if [ -s "$T/back/report.csv" ] && grep -qF "Thôn Đông – nhà văn hóa" "$T/back/report.csv" &&
	grep -qF "Thôn Tây (chợ Đình)" "$T/back/report.csv" &&
	grep -qF 'Xóm Mới, ""điểm 3""' "$T/back/report.csv"; then
	ok "the xlsx converted back to CSV has the Vietnamese names intact"
else
	not_ok "the xlsx converted back to CSV has the Vietnamese names intact"
	sed 's/^/#   /' "$T/back/report.csv" "$T/lo2.log" 2>/dev/null | head -20
fi
check "the round trip keeps the counts (thon-dong 62,59,3)" \
	grep -qE 'thon-dong.*,62,59,3,' "$T/back/report.csv"

# /metrics, parsed by Prometheus' own checker
api_curl http://loaxa/metrics >"$T/metrics.txt"
check "/metrics answers in Prometheus text format" grep -q '^loaxa_node_up{node="thon-dong"} 1$' "$T/metrics.txt"
if promtool check metrics <"$T/metrics.txt" >"$T/promtool.log" 2>&1; then
	ok "promtool check metrics accepts /metrics"
else
	not_ok "promtool check metrics accepts /metrics"
	sed 's/^/#   /' "$T/promtool.log" | head -20
fi
check "/metrics counts the stored play_finished events" \
	grep -q "^loaxa_events_total{type=\"play_finished\"} $(( 57 + 2 + 22 ))\$" "$T/metrics.txt"

stop_all_checked
finish
