#!/bin/sh
# scripts/cap-xsd.sh XSD OUT : the CAP 1.2 schema as the body of a C string
# literal (controller/capxml.c includes it), for the Makefile and
# tests/fuzz/run.sh alike. Backslashes and quotes escaped, one line each.
set -e
mkdir -p "$(dirname "$2")"
sed 's/\\/\\\\/g; s/"/\\"/g; s/^/"/; s/$/\\n"/' "$1" >"$2.tmp"
mv "$2.tmp" "$2"
