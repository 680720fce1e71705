#!/usr/bin/env bash
# scripts/demo on already built binaries: it exits 0 within 60 s, the reps'
# daemons sync by themselves, the manager's compliance report names both
# reps with the deadlines missed on purpose, zhang sees li's approval, and
# the plaintext scan finds nothing.
#
#   bash tests/cli/test_demo.sh path/to/scripts/demo path/to/bin
set -u
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
DEMO=${1:?usage: test_demo.sh path/to/scripts/demo path/to/bin}
BIN=${2:?usage: test_demo.sh path/to/scripts/demo path/to/bin}
t0=$SECONDS
OUT=$(FS_DEMO_BIN=$BIN bash "$DEMO" 2>&1)
RC=$?
took=$((SECONDS - t0))
equal "the demo exits 0" "$RC" 0
if [ "$took" -lt 60 ]; then ok "the demo takes under 60 s (${took} s)"
else fail "the demo takes under 60 s" "took ${took} s"; fi
contains "zhang's daemon synced by itself" "$OUT" "in sync: "
contains "the report is printed" "$OUT" "compliance, last 7 days"
report=$(sed -n '/^compliance, /,/^$/p' <<<"$OUT")
contains "it lists zhang" "$report" "zhang"
contains "and wang" "$report" "wang"
contains "zhang's late contact shows (1 of 2 on time)" "$report" "1/2"
contains "his plan was approved late" "$report" "approved late"
contains "zhang sees li's approval" "$OUT" "approved  li"
contains "the scan ends clean" "$OUT" "hold no customer text in plaintext"
if grep -q "PLAINTEXT FOUND" <<<"$OUT"; then fail "no plaintext found"; else ok "no plaintext found"; fi
[ "$failed" -eq 0 ] || echo "$OUT" | tail -60
finish
