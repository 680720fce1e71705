#!/usr/bin/env bash
# Issue 8's whole set in one run, printed as one table of figures and ratios
# measured side by side, and written to bench/results/<date>-<host>.md with
# the machine's description:
#   1. local writes against raw SQLite (bench_write)
#   2-4. sync both ways on loopback against raw SQLite inserts of the same
#      change rows, and bytes on the wire per visit (bench_sync), on the
#      visits drawn from pools of phrases and on free text that does not
#      repeat (--corpus free, issue 21.6; the wire target is the free one's)
#   5. the PouchDB peer replicating the same visits (bench/peer/run.sh)
#   6. server RSS per connection, 1,000 active and 10,000 idle (bench/load.sh);
#      the same load on one node on the PostgreSQL store and on two nodes
#      on one PostgreSQL (load.sh pg-*, pg2-*, issue 21.4): changes/s, ACK
#      p50/p99, CPU seconds per 1,000 changes per node and PostgreSQL's
#   7. a rep's sync under a 16-thread dashboard login flood vs alone
#      (tests/cli/test_loginflood.sh, issue 20.1)
#   8. a rep's sync beside 20,000 idle connections (one /24, then 200) vs
#      alone (tests/cli/test_connbudget.sh, issue 20.2)
#   9. a rep's pull of 10 new changes with 1,000,000 other reps' changes
#      since its cursor against none, and the push's price of the feed's
#      scope index (bench_pull, issue 21.1)
#   10. a rep's visit reaching the manager's running daemon, real processes,
#      idle and under loadsim's devices on the same server (bench/reach.sh,
#      issue 21.5; skipped with --no-load)
#   11. a fresh device's first sync of 1,000,000 visits of free text (quick:
#      20,000) and the time until `visit list` works, beside Zero's and
#      PowerSync's published rows/s (bench_first, issue 21.6)
#   12. the replica's encryption overhead: the same replica workload with
#      and without the encrypting VFS, beside Turso's published 6 % / 14 %
#      (bench_crypt, issue 21.6)
#
#   bench/all.sh [--visits N] [--quick] [--no-load] [--no-peer]
# N: 100,000 (quick: 2,000, and load in its quick mode). Builds build/
# without sanitizers first. Exit status 0 when every part ran; a figure that
# misses its target is reported as MISS, not a failure.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"

visits=100000 quick=0 load=1 peer=1
while [ $# -gt 0 ]; do
    case $1 in
    --visits) visits=${2:?--visits N}; shift ;;
    --quick) quick=1 visits=2000 ;;
    --no-load) load=0 ;;
    --no-peer) peer=0 ;;
    *) echo "usage: bench/all.sh [--visits N] [--quick] [--no-load] [--no-peer]" >&2; exit 2 ;;
    esac
    shift
done

fs_install_deps
fs_build "$FS_ROOT/build" -DFS_SANITIZE=OFF
BIN=$FS_ROOT/build/bin
OUT=$(mktemp -d "${TMPDIR:-/tmp}/fieldsync-benchall-XXXXXX")
trap 'rm -rf "$OUT"' EXIT

echo "==> bench_write" >&2
if [ "$quick" = 1 ]; then "$BIN/bench_write" --quick >"$OUT/write.txt"
else "$BIN/bench_write" >"$OUT/write.txt"; fi
echo "==> bench_pull" >&2
if [ "$quick" = 1 ]; then "$BIN/bench_pull" --quick --json >"$OUT/pull.txt"
else "$BIN/bench_pull" --json >"$OUT/pull.txt"; fi
echo "==> bench_first" >&2
if [ "$quick" = 1 ]; then "$BIN/bench_first" --quick --json >"$OUT/first.txt"
else "$BIN/bench_first" --json >"$OUT/first.txt"; fi
echo "==> bench_crypt" >&2
if [ "$quick" = 1 ]; then "$BIN/bench_crypt" --quick --json >"$OUT/crypt.txt"
else "$BIN/bench_crypt" --json >"$OUT/crypt.txt"; fi
echo "==> bench_sync ($visits visits)" >&2
"$BIN/bench_sync" --visits "$visits" --json >"$OUT/sync.txt"
echo "==> bench_sync ($visits visits, free corpus)" >&2
"$BIN/bench_sync" --visits "$visits" --corpus free --json >"$OUT/sync_free.txt"
if [ "$peer" = 1 ]; then
    echo "==> PouchDB peer ($visits visits)" >&2
    "$FS_ROOT/bench/peer/run.sh" "$visits" "$BIN" >"$OUT/peer.json" 2>"$OUT/peer.err" ||
        { cat "$OUT/peer.err" >&2; exit 1; }
fi
if [ "$load" = 1 ]; then
    mode=full
    [ "$quick" = 1 ] && mode=quick
    echo "==> load ($mode)" >&2
    "$FS_ROOT/bench/load.sh" "$mode" "$BIN" >"$OUT/load.txt" 2>&1 || { tail -20 "$OUT/load.txt" >&2; exit 1; }
    for m in pg pg2; do
        echo "==> load ($m-$mode)" >&2
        "$FS_ROOT/bench/load.sh" "$m-$mode" "$BIN" >"$OUT/load_$m.txt" 2>&1 ||
            { tail -20 "$OUT/load_$m.txt" >&2; exit 1; }
    done
    echo "==> reach ($mode)" >&2
    "$FS_ROOT/bench/reach.sh" "$mode" "$BIN" >"$OUT/reach.txt" 2>&1 || { tail -20 "$OUT/reach.txt" >&2; exit 1; }
fi

echo "==> login flood" >&2
FLOOD_MAX_RATIO=1000 bash "$FS_ROOT/tests/cli/test_loginflood.sh" "$BIN/fieldsync" \
    "$BIN/fieldsync-server" >"$OUT/flood.txt" 2>&1 || { tail -20 "$OUT/flood.txt" >&2; exit 1; }

echo "==> connection flood" >&2
CONNBUDGET_SYNC_MAX=1000 bash "$FS_ROOT/tests/cli/test_connbudget.sh" "$BIN/fieldsync" \
    "$BIN/fieldsync-server" >"$OUT/connflood.txt" 2>&1 || { tail -20 "$OUT/connflood.txt" >&2; exit 1; }

mkdir -p "$FS_ROOT/bench/results"
result=$FS_ROOT/bench/results/$(date -u +%Y-%m-%d)-$(hostname -s).md
python3 - "$OUT" "$result" "$visits" <<'PY'
import json, os, platform, re, subprocess, sys, datetime
out, result, visits = sys.argv[1], sys.argv[2], int(sys.argv[3])
rows = []
def row(item, figure, ratio, target, ok):
    rows.append((item, figure, ratio, target, "" if ok is None else ("PASS" if ok else "MISS")))

write = open(os.path.join(out, "write.txt")).read()
for mode, target in (("1 visit/tx", 0.5), ("1000 visits/tx", 0.6)):
    m = re.search(r"^" + re.escape(mode) + r"\s+[\d,]+\s+([\d,]+)\s+([\d,]+)\s+([\d.]+)", write, re.M)
    if not m:
        sys.exit("bench/all.sh: no '%s' line from bench_write" % mode)
    base, fs, ratio = m.group(1), m.group(2), float(m.group(3))
    row("1. local write, " + mode, f"{fs} visits/s (raw SQLite {base})", f"{ratio:.2f}", ">= %.1f" % target, ratio >= target)

for corpus, name in (("sync_free.txt", "free text"), ("sync.txt", "phrase pools")):
    s = json.loads(open(os.path.join(out, corpus)).read().strip().splitlines()[-1])
    limit = s["changes"] / s["limit_s"]
    push, pull = s["changes"] / s["push_s"], s["changes"] / s["pull_s"]
    row(f"2. sync push (device -> server, acked), {name}", f"{push:,.0f} changes/s (limit {limit:,.0f})", f"{push/limit:.2f}", ">= 0.5", push / limit >= 0.5)
    row(f"2. sync pull (fresh device), {name}", f"{pull:,.0f} changes/s", f"{pull/limit:.2f}", ">= 0.5", pull / limit >= 0.5)
    row(f"3. fresh manager pulls {s['visits']:,} visits, {name}", f"{s['pull_s']:.2f} s (limit {s['limit_s']:.2f} s)", f"{s['limit_s']/s['pull_s']:.2f}", ">= 0.5", s['limit_s'] / s['pull_s'] >= 0.5)
    raw = s["raw_field_bytes"]
    fs_push_bytes = s["push_bytes_up"] + s["push_bytes_down"]
    fs_pull_bytes = s["pull_bytes_up"] + s["pull_bytes_down"]
    free = corpus == "sync_free.txt" # the wire target is the free text's (issue 21.6)
    row(f"4. wire bytes per visit, push, {name}", f"{fs_push_bytes/s['visits']:,.0f} B (raw fields {raw/s['visits']:,.0f} B)", f"{fs_push_bytes/raw:.2f}", "<= 1.3" if free else "", (fs_push_bytes / raw <= 1.3) if free else None)
    row(f"4. wire bytes per visit, pull, {name}", f"{fs_pull_bytes/s['visits']:,.0f} B", f"{fs_pull_bytes/raw:.2f}", "<= 1.3" if free else "", (fs_pull_bytes / raw <= 1.3) if free else None)
# the PouchDB peer replicates the phrase-pool visits (bench/dump_visits)
peer = None
if os.path.exists(os.path.join(out, "peer.json")):
    peer = json.load(open(os.path.join(out, "peer.json")))
    if peer["raw_field_bytes"] != raw:
        sys.exit(f"bench/all.sh: the peer counted {peer['raw_field_bytes']} raw bytes, bench_sync {raw}")
    fs_total_s = s["push_s"] + s["pull_s"]
    fs_total_b = fs_push_bytes + fs_pull_bytes
    row("5. PouchDB push + pull, time", f"fieldsync {fs_total_s:.2f} s, PouchDB {peer['total_s']:.2f} s", f"{peer['total_s']/fs_total_s:.1f}x faster", ">= 10x", peer["total_s"] / fs_total_s >= 10)
    row("5. PouchDB push + pull, bytes", f"fieldsync {fs_total_b:,}, PouchDB {peer['total_bytes']:,}", f"{fs_total_b/peer['total_bytes']:.2f}", "<= 0.3", fs_total_b / peer["total_bytes"] <= 0.3)
    row("4. wire bytes vs PouchDB, push", f"{fs_push_bytes/visits:,.0f} vs {(peer['push_bytes_up']+peer['push_bytes_down'])/visits:,.0f} B/visit", f"{fs_push_bytes/(peer['push_bytes_up']+peer['push_bytes_down']):.2f}", "", None)
load = None
lp = os.path.join(out, "load.txt")
if os.path.exists(lp):
    m = re.search(r"^load: (\{.*\})$", open(lp).read(), re.M)
    if not m:
        sys.exit("bench/all.sh: no load summary")
    load = json.loads(m.group(1))
    a, i = load["active"], load["idle"]
    row(f"6. server RSS per connection, {i['devices']:,} idle", f"{i['rss_per_conn_kib']:.1f} KiB", "", "", None)
    row(f"6. server RSS per connection, {a['devices']:,} active", f"{(a['server_rss_kib'][2]-a['server_rss_kib'][0])/a['devices']:.1f} KiB at the end; {a['changes_per_s']:,} changes/s, ACK p50 {a['ack_p50_ms']} ms, p99 {a['ack_p99_ms']} ms", "", "", None)
    # issue 21.4: one node on SQLite, one on PostgreSQL, two on one PostgreSQL
    def node_cost(x):
        return ", ".join(f"{n['cpu_s_per_1000']:.2f}" for n in x["nodes"])
    one = a["nodes"][0]["cpu_s_per_1000"]
    row(f"6. load, SQLite, one node, {a['devices']:,} active",
        f"{a['changes_per_s']:,} changes/s, ACK p50 {a['ack_p50_ms']} ms, p99 {a['ack_p99_ms']} ms; node CPU {one:.2f} s per 1,000 changes",
        f"{a['ack_p99_ms']/100:.2f}", "ACK p99 <= 100 ms", a["ack_p99_ms"] <= 100)
    pg_one = None
    for m, name in (("pg", "PostgreSQL, one node"), ("pg2", "PostgreSQL, two nodes")):
        mp = os.path.join(out, f"load_{m}.txt")
        if not os.path.exists(mp):
            continue
        mm = re.search(r"^load: (\{.*\})$", open(mp).read(), re.M)
        if not mm:
            sys.exit(f"bench/all.sh: no summary from load.sh {m}")
        x = json.loads(mm.group(1))
        xa, xi = x["active"], x["idle"]
        per_node = sum(n["cpu_s_per_1000"] for n in xa["nodes"]) / len(xa["nodes"])
        if m == "pg":
            pg_one = per_node
        ratio = f"{per_node/pg_one:.2f} of one node's" if m == "pg2" and pg_one else f"{per_node/one:.2f} of SQLite's"
        row(f"6. load, {name}, {xa['devices']:,} active",
            f"{xa['changes_per_s']:,} changes/s, ACK p50 {xa['ack_p50_ms']} ms, p99 {xa['ack_p99_ms']} ms; "
            f"node CPU {node_cost(xa)} s per 1,000 changes (per node), PostgreSQL {xa['pg_cpu_s_per_1000']:.2f} s per 1,000",
            ratio, "node cost per change independent of the node count" if m == "pg2" else "", None)
        row(f"6. server RSS per connection, {name}, {xi['devices']:,} idle",
            ", ".join(f"{n['rss_per_conn_kib']:.1f} KiB" for n in xi["nodes"]), "", "", None)

m = re.search(r"^five syncs: ([\d.]+) s alone, ([\d.]+) s under .*: ratio ([\d.]+)$",
              open(os.path.join(out, "flood.txt")).read(), re.M)
if not m:
    sys.exit("bench/all.sh: no ratio from tests/cli/test_loginflood.sh")
row("7. rep's 5 syncs under a 16-thread login flood", f"{m.group(2)} s (alone {m.group(1)} s)", f"{float(m.group(3)):.2f}", "<= 1.5", float(m.group(3)) <= 1.5)
m = re.search(r"^connection flood: three syncs ([\d.]+) s alone, ([\d.]+) s beside (\d+) idle connections from one /24 \(ratio ([\d.]+), worst ([\d.]+) s\), ([\d.]+) s from 200 /24s \(ratio ([\d.]+), worst ([\d.]+) s\)$",
              open(os.path.join(out, "connflood.txt")).read(), re.M)
if not m:
    sys.exit("bench/all.sh: no ratio from tests/cli/test_connbudget.sh")
row(f"8. rep's 3 syncs beside {int(m.group(3)):,} idle connections, one /24", f"{m.group(2)} s (alone {m.group(1)} s), worst sync {m.group(5)} s", m.group(4), "each sync <= 2 s", float(m.group(5)) <= 2)
row(f"8. rep's 3 syncs beside {int(m.group(3)):,} idle connections, 200 /24s", f"{m.group(6)} s, worst sync {m.group(8)} s", m.group(7), "each sync <= 2 s", float(m.group(8)) <= 2)

p = json.loads(open(os.path.join(out, "pull.txt")).read().strip().splitlines()[-1])
row(f"9. rep's pull of 10 changes, {p['others']:,} others' since its cursor",
    f"{p['pull_full_s']*1e3:.3f} ms (none since: {p['pull_empty_s']*1e3:.3f} ms; reading the feed since: {p['scan_s']*1e3:.1f} ms)",
    f"{p['ratio']:.2f}", "<= 2", p["ratio"] <= 2)
row("9. push with the feed's scope index, fresh store", f"{p['push_after']:,.0f} changes/s (without: {p['push_before']:,.0f})",
    f"{p['push_after']/p['push_before']:.2f}", "", None)
row(f"9. push writing feed_scope, store of {p['others']:,} changes", f"{p['big_push_after']:,.0f} changes/s (left to the pull: {p['big_push_before']:,.0f})",
    f"{p['big_push_after']/p['big_push_before']:.2f}", "", None)

rp = os.path.join(out, "reach.txt")
if os.path.exists(rp):
    m = re.search(r"^reach: (\{.*\})$", open(rp).read(), re.M)
    if not m:
        sys.exit("bench/all.sh: no summary from bench/reach.sh")
    r = json.loads(m.group(1))
    i, l, ls = r["idle"], r["load"], r["loadsim"]
    row(f"10. rep's visit add -> in the manager's replica, idle ({i['visits']} visits)",
        f"p50 {i['p50_ms']:.0f} ms, p99 {i['p99_ms']:.0f} ms" + (f", {i['refused']} visit adds refused" if i["refused"] else ""),
        f"{i['p50_ms']/100:.2f}", "p50 <= 100 ms", i["p50_ms"] <= 100 and i["arrived"] == i["visits"])
    row(f"10. the same under {ls['devices']:,} loadsim devices ({l['visits']} visits)",
        f"p99 {l['p99_ms']:.0f} ms, p50 {l['p50_ms']:.0f} ms" + (f", {l['refused']} visit adds refused" if l["refused"] else "") +
        f" (load: {ls['changes_per_s']:,} changes/s, ACK p99 {ls['ack_p99_ms']:.0f} ms)",
        f"{l['p99_ms']/1000:.2f}", "p99 <= 1 s", l["p99_ms"] <= 1000 and l["arrived"] == l["visits"])

f = json.loads(open(os.path.join(out, "first.txt")).read().strip().splitlines()[-1])
row(f"11. fresh device's first sync, {f['visits']:,} visits, free text",
    f"{f['rows_per_s']:,.0f} rows/s, {f['sync_s']:.1f} s (published, not measured here: Zero 280,000, PowerSync 27,600 on desktop)",
    f"{f['rows_per_s']/280000:.2f} of Zero, {f['rows_per_s']/27600:.2f} of PowerSync", "", None)
row(f"11. time until visit list works, {f['visits']:,} visits",
    f"{f['list_works_s']:.1f} s (the sync, then open + first 20 in {f['first_screen_s']*1e3:.0f} ms; all {f['visits']:,} read in {f['list_all_s']:.1f} s)",
    "", "", None)
c = json.loads(open(os.path.join(out, "crypt.txt")).read().strip().splitlines()[-1])
row(f"12. encryption overhead of the replica, writes ({c['visits']:,} visits)",
    f"{100*c['write_overhead']:+.1f} % (plain {c['plain_write_s']:.2f} s, encrypted {c['sealed_write_s']:.2f} s; Turso publishes 14 %)",
    f"{1+c['write_overhead']:.2f}", "", None)
row(f"12. encryption overhead of the replica, reads ({c['visits']:,} visits)",
    f"{100*c['read_overhead']:+.1f} % (plain {c['plain_scan_s']+c['plain_point_s']:.2f} s, encrypted {c['sealed_scan_s']+c['sealed_point_s']:.2f} s; Turso publishes 6 %)",
    f"{1+c['read_overhead']:.2f}", "", None)

def cmd(c):
    try:
        return subprocess.check_output(c, shell=True, stderr=subprocess.DEVNULL).decode().strip()
    except Exception:
        return "?"
cpu = cmd("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2")
mem_kib = int(cmd("grep MemTotal /proc/meminfo | tr -s ' ' | cut -d' ' -f2") or 0)
libs = ", ".join(f"{name} {cmd('pkg-config --modversion ' + pc)}" for name, pc in
                 (("SQLite", "sqlite3"), ("libsodium", "libsodium"),
                  ("libwebsockets", "libwebsockets"), ("msgpack-c", "msgpack"),
                  ("zstd", "libzstd")))
machine = [
    f"- date (UTC): {datetime.datetime.utcnow():%Y-%m-%d %H:%M}",
    f"- CPU: {cpu}, {os.cpu_count()} cores online",
    f"- memory: {mem_kib / 1048576:.1f} GiB",
    f"- kernel: {platform.release()}; {cmd('. /etc/os-release && echo $PRETTY_NAME')}",
    f"- {libs}",
    f"- fieldsync {cmd('git -C ' + os.path.dirname(result) + ' rev-parse --short HEAD')}, build/ RelWithDebInfo without sanitizers",
]
if peer:
    machine.append("- peer: " + ", ".join(f"{k} {v}" for k, v in peer["versions"].items()))
w = [max(len(r[k]) for r in rows + [("item", "figure", "ratio", "target", "result")]) for k in range(5)]
def line(r):
    return "| " + " | ".join(r[k].ljust(w[k]) for k in range(5)) + " |"
table = [line(("item", "figure", "ratio", "target", "result")), "|" + "|".join("-" * (x + 2) for x in w) + "|"] + [line(r) for r in rows]
text = "\n".join(["# fieldsync benchmarks", "", f"{visits:,} visits; every ratio measured in the same run.", "", "## Machine", ""] + machine + ["", "## Figures", ""] + table + [""])
open(result, "w").write(text)
print("\n".join(table))
print(f"\nwritten to {os.path.relpath(result)}")
PY
