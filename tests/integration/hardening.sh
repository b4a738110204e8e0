#!/bin/bash
# The release binaries are built with Debian's hardening flags (issue 14,
# point 10; Makefile, docs/security.md): each of loaxa, loaxa-node,
# loaxa-controller and loaxa-encode in $LOAXA_RELEASE_BIN is
#   - a position-independent executable (ELF type DYN, FLAGS_1 PIE), so ASLR
#     moves its code too;
#   - linked with full RELRO: a GNU_RELRO segment and immediate binding
#     (BIND_NOW / FLAGS_1 NOW), so the GOT is read-only once it runs;
#   - compiled with the stack protector (imports __stack_chk_fail) and
#     _FORTIFY_SOURCE (imports checked libc calls, __*_chk).
# The paced test card plugin stays a plain shared object (not PIE). Checked
# with readelf; with devscripts' hardening-check too where it is installed.
source "$(dirname "$0")/../lib.sh"
: "${LOAXA_RELEASE_BIN:=$ROOT/build}"
REL=$(cd "$LOAXA_RELEASE_BIN" && pwd)
need "$(command -v readelf)" "$REL/loaxa" "$REL/loaxa-node" "$REL/loaxa-node-update" "$REL/loaxa-controller" \
	"$REL/loaxa-encode"

for b in loaxa loaxa-node loaxa-node-update loaxa-controller loaxa-encode; do
	f=$REL/$b
	readelf -hW "$f" >"$T/$b.h" 2>&1
	readelf -dW "$f" >"$T/$b.d" 2>&1
	readelf -lW "$f" >"$T/$b.l" 2>&1
	readelf --dyn-syms -W "$f" >"$T/$b.syms" 2>&1
	check "$b is a position-independent executable (Type DYN)" \
		grep -Eq '^ *Type: +DYN' "$T/$b.h"
	check "$b: FLAGS_1 has PIE" grep -Eq 'FLAGS_1\).*\bPIE\b' "$T/$b.d"
	check "$b binds now (BIND_NOW or FLAGS_1 NOW)" \
		grep -Eq '\(BIND_NOW\)|\(FLAGS\).*\bBIND_NOW\b|FLAGS_1\).*\bNOW\b' "$T/$b.d"
	check "$b has a GNU_RELRO segment (full RELRO with the above)" \
		grep -Eq '^ *GNU_RELRO ' "$T/$b.l"
	check "$b imports __stack_chk_fail (stack protector)" \
		grep -Eq ' UND __stack_chk_fail(@|$)' "$T/$b.syms"
	nchk=$(grep -Eo ' UND __[a-z0-9_]+_chk(@|$)' "$T/$b.syms" | grep -vc __stack_chk)
	check "$b imports fortified libc calls ($nchk __*_chk: $(grep -Eo ' UND __[a-z0-9_]+_chk' "$T/$b.syms" | grep -v __stack_chk | awk '{print $2}' | head -4 | tr '\n' ' '))" \
		[ "$nchk" -gt 0 ]
done

plugin=$REL/alsa/libasound_module_pcm_loaxapaced.so
if [ -f "$plugin" ]; then
	check "the ALSA test plugin is a shared object, not a PIE" \
		eval '! readelf -dW "$plugin" | grep -Eq "FLAGS_1\).*\bPIE\b" && readelf -hW "$plugin" | grep -q "Shared object"'
fi

if command -v hardening-check >/dev/null 2>&1; then
	for b in loaxa loaxa-node loaxa-node-update loaxa-controller loaxa-encode; do
		hardening-check "$REL/$b" >"$T/$b.hc" 2>&1
		check "hardening-check $b passes" [ $? = 0 ] || sed 's/^/#   /' "$T/$b.hc"
	done
else
	diag "hardening-check (devscripts) is not installed: readelf checks only"
fi
finish
