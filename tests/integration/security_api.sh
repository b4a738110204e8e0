#!/bin/bash
# Operator accounts on the controller API (docs/security.md):
#   - every endpoint (and any URL) answers 401 without a token, or with a
#     made-up one; the CLI says to log in;
#   - an operator scoped to thon-1 broadcasts to thon-1 but is refused for
#     thon-2, for a node of thon-2, for --all and for level emergency;
#     a maintenance account may not import or broadcast; only an admin
#     manages users and reads the audit log;
#   - the audit log has the allowed and the refused attempts: who, what,
#     target, when, from where (uid and pid on the socket);
#   - wrong passwords lock the account for the window (429), even for the
#     right password; logout and user deletion kill the token; the token
#     file is 0600.
source "$(dirname "$0")/../lib.sh"
need "$LOAXA" "$CONTROLLER" "$NODE"

start_broker || exit 1
keygen || exit 1
write_controller_cfg
start_controller || exit 1
write_node_cfg n1 thon-1
write_node_cfg n2 thon-2
for n in n1 n2; do start_node "$n" || exit 1; done

# has FILTER JSON : jq -e, quietly (check prints the result).
has() { jq -e "$1" >/dev/null 2>&1 <<<"$2"; }

# --- no token, a made-up token: 401 everywhere
fake=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
bad=0
while read -r method path body; do
	for tok in "" "$fake"; do
		code=$(http_status "$method" "$path" "$tok" "${body:-}")
		if [ "$code" != 401 ]; then
			bad=1
			diag "$method $path (token '${tok:0:8}'): HTTP $code, not 401: $(cat "$T/resp.json")"
		fi
	done
done <<'EOF'
GET /v1/nodes
GET /v1/content
POST /v1/content
POST /v1/broadcasts {"content":"x","zone":"thon-1"}
GET /v1/broadcasts/b-20260101-000000-0001
GET /v1/plays
GET /v1/whoami
POST /v1/logout {}
GET /v1/users
POST /v1/users {"name":"x","role":"admin","password":"12345678"}
DELETE /v1/users/admin
GET /v1/audit
GET /v1/provision/nodes
POST /v1/provision/nodes {"node":"x","zones":["a"]}
POST /v1/provision/nodes/n1/revoke {}
GET /v1/keys
POST /v1/keys/rotate {}
GET /v1/schedule
POST /v1/schedule/check {}
POST /v1/schedule/apply {}
POST /v1/announcements {}
POST /v1/cancel {}
GET /v1/readiness
GET /v1/emergency
POST /v1/emergency {"clip":"x","all":true}
POST /v1/emergency/stop {}
GET /v1/live
POST /v1/live {}
GET /v1/security
GET /v1/no-such-thing
POST /v2/anything {}
EOF
check "every endpoint (and unknown URLs) answers 401 without a token or with a made-up one" \
	[ "$bad" = 0 ]
out=$(LOAXA_TOKEN_FILE=$T/none "$LOAXA" nodes 2>&1)
check "the CLI without a token says to log in (\"$out\")" grep -q 'loaxa login' <<<"$out"

# --- accounts
printf 'operator-pw-1\n' >"$T/op1.pw"
printf 'maint-pw-123\n' >"$T/mt.pw"
check "admin adds operator op1 scoped to thon-1" \
	"$LOAXA" user add op1 --role operator --zone thon-1 --password-file "$T/op1.pw"
check "admin adds maintenance account mt" \
	"$LOAXA" user add mt --role maintenance --all-zones --password-file "$T/mt.pw"
users=$("$LOAXA" user list --json)
check "loaxa user list shows op1 (operator, [thon-1])" \
	has '.[] | select(.name == "op1" and .role == "operator" and .zones == ["thon-1"])' \
	"$users"
dup=$("$LOAXA" user add op1 --role operator --zone thon-1 --password-file "$T/op1.pw" 2>&1)
check "a second op1 is refused (\"$dup\")" grep -q 'already' <<<"$dup"

OPTOK=$T/op1-token
check "op1 logs in" env LOAXA_TOKEN_FILE="$OPTOK" "$LOAXA" login op1 --password-file "$T/op1.pw"
check "the token file is mode 0600" [ "$(stat -c %a "$OPTOK")" = 600 ]
op() { LOAXA_TOKEN_FILE=$OPTOK "$LOAXA" "$@"; }
check "op1 whoami says operator, thon-1" grep -q 'op1 (operator), zones thon-1' <<<"$(op whoami)"

speech "$T/tb.wav" "Thông báo kiểm tra." || exit 1
content=$(op import "$T/tb.wav" 2>/dev/null)
check "op1 may import content (id ${content:0:12})" [ "${#content}" = 64 ]

allowed=$(op play "$content" --zone thon-1 --json 2>&1)
check "op1 broadcasts to thon-1" has '.targets == ["n1"]' "$allowed" || diag "$allowed"
refused=$(op play "$content" --zone thon-2 2>&1)
check "op1 is refused for thon-2 (\"$refused\")" grep -q 'not on zone thon-2' <<<"$refused"
refused=$(op play "$content" --node n2 2>&1)
check "op1 is refused for node n2 of thon-2 (\"$refused\")" grep -q 'node n2 is in zone thon-2' \
	<<<"$refused"
refused=$(op play "$content" --all 2>&1)
check "op1 is refused for --all (\"$refused\")" grep -q 'not on every node' <<<"$refused"
refused=$(op play "$content" --zone thon-1 --level emergency 2>&1)
check "op1 (operator) is refused level emergency (\"$refused\")" grep -q 'emergency' <<<"$refused"
refused=$(op user list 2>&1)
check "op1 may not list users (\"$refused\")" grep -q 'may not administer' <<<"$refused"
refused=$(op audit 2>&1)
check "op1 may not read the audit log" grep -q 'may not administer' <<<"$refused"

MTTOK=$T/mt-token
LOAXA_TOKEN_FILE=$MTTOK "$LOAXA" login mt --password-file "$T/mt.pw" 2>/dev/null
refused=$(LOAXA_TOKEN_FILE=$MTTOK "$LOAXA" play "$content" --zone thon-1 2>&1)
check "maintenance may not broadcast (\"$refused\")" grep -q 'may not operate' <<<"$refused"
check "maintenance may read the nodes" has '.nodes | length == 2' \
	"$(LOAXA_TOKEN_FILE=$MTTOK "$LOAXA" nodes --json)"

# --- the audit log
audit=$("$LOAXA" audit --limit 200 --json)
check "audit: op1's broadcast to thon-1 allowed (201), with uid and pid" has '.[] |
	select(.user == "op1" and .action == "POST /v1/broadcasts" and .result == "allowed"
	       and .status == 201 and (.target | startswith("zone thon-1"))
	       and (.from | test("^uid [0-9]+.* pid [0-9]+$")))' "$audit"
check "audit: op1's broadcast to thon-2 refused (403) with the reason" has '.[] |
	select(.user == "op1" and .action == "POST /v1/broadcasts" and .result == "refused"
	       and .status == 403 and (.target | startswith("zone thon-2"))
	       and (.detail | test("thon-2")))' "$audit"
check "audit: the unauthenticated attempts are there (user -, 401)" has '[.[] |
	select(.user == "-" and .status == 401)] | length >= 10' "$audit"
check "audit: the logins are there" has '.[] | select(.action == "POST /v1/login" and
	.user == "op1" and .result == "allowed")' "$audit"
"$LOAXA" audit --limit 20 >"$T/audit.txt"
check "loaxa audit (table) shows op1 refused" grep -Eq 'op1 +refused +POST /v1/broadcasts' \
	"$T/audit.txt" || sed 's/^/#   /' "$T/audit.txt"

# --- rate limit: 5 wrong passwords lock op1 for the window, right one too
printf 'wrong-password\n' >"$T/wrong.pw"
for i in 1 2 3 4 5; do
	LOAXA_TOKEN_FILE=$T/x "$LOAXA" login op1 --password-file "$T/wrong.pw" 2>/dev/null
	sleep 0.3 # stay under the global logins-per-second budget
done
locked=$(LOAXA_TOKEN_FILE=$T/x "$LOAXA" login op1 --password-file "$T/op1.pw" 2>&1)
check "after 5 wrong passwords the right one is refused too (\"$locked\")" \
	grep -q 'too many wrong passwords' <<<"$locked"
check "audit has the refused logins (429)" has '[.[] | select(.action == "POST /v1/login"
	and .status == 429)] | length >= 1' "$("$LOAXA" audit --json)"
check "op1's existing token still works" grep -q '^op1 ' <<<"$(op whoami)"

# --- logout, user deletion
check "op1 logs out" op logout
gone=$(LOAXA_TOKEN=$(cat "$T/mt-token") "$LOAXA" whoami 2>&1)
check "mt's token works before deletion" grep -q 'mt (maintenance)' <<<"$gone"
cp "$MTTOK" "$T/mt-token.saved"
check "admin deletes mt" "$LOAXA" user del mt
gone=$(LOAXA_TOKEN_FILE=$T/mt-token.saved "$LOAXA" whoami 2>&1)
check "mt's token died with the account (\"$gone\")" grep -q 'not valid' <<<"$gone"
self=$("$LOAXA" user del admin 2>&1)
check "admin cannot delete itself (\"$self\")" grep -q 'cannot delete yourself' <<<"$self"

stop_all_checked
finish
