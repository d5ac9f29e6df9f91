#!/usr/bin/env bash
# //tools:timeline on the committed trace (tests/data/soak_arena.trace): valid Chrome Trace Event
# JSON whose scope slices balance on every thread and carry the trace's op names, whose memory
# counters never go negative (a release without its allocation would wrap them) and come back
# to what no scope holds; OUT.json gets what stdout gets; a truncated trace and an unwritable
# output are refused with a message, exit status 1. Then tools/timeline_plot.py draws it, where
# matplotlib is installed.
set -euo pipefail
timeline=$1
trace=$2
plot=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$timeline" "$trace" >"$tmp/stdout.json"
"$timeline" "$trace" "$tmp/out.json"
cmp "$tmp/stdout.json" "$tmp/out.json" || { echo "FAIL: OUT.json differs from stdout"; exit 1; }

/usr/bin/python3 - "$tmp/out.json" <<'PY'
import collections, json, sys
events = json.load(open(sys.argv[1]))["traceEvents"]
depth = collections.Counter()
names = set()
counters = 0
for e in events:
    if e["ph"] == "B":
        depth[e["tid"]] += 1
        names.add(e["name"])
    elif e["ph"] == "E":
        depth[e["tid"]] -= 1
        assert depth[e["tid"]] >= 0, f"an E before its B on thread {e['tid']}"
    elif e["ph"] == "C":
        counters += 1
        for k, v in e["args"].items():
            assert 0 <= v < 2**48, f"counter {e['name']}/{k} is {v}"
assert all(d == 0 for d in depth.values()), f"unbalanced slices: {dict(depth)}"
assert {"sum_f32", "mean_cols_f32"} <= names, f"op names: {sorted(names)}"
assert counters > 100, f"{counters} counter events"
ts = [e["ts"] for e in events if "ts" in e]
assert ts == sorted(ts), "events out of time order"
print(f"{len(events)} events, {counters} counters, ops {sorted(names)}")
PY

head -c 100 "$trace" >"$tmp/bad.trace"
if msg=$("$timeline" "$tmp/bad.trace" 2>&1); then echo "FAIL: a truncated trace was accepted"; exit 1; fi
grep -q 'truncated' <<<"$msg" || { echo "FAIL: unclear message: $msg"; exit 1; }
if msg=$("$timeline" "$trace" /nonexistent-dir/out.json 2>&1); then
  echo "FAIL: an unwritable output was accepted"; exit 1
fi
grep -q '/nonexistent-dir/out.json' <<<"$msg" || { echo "FAIL: unclear message: $msg"; exit 1; }

if /usr/bin/python3 -c 'import matplotlib' 2>/dev/null; then
  /usr/bin/python3 "$plot" "$tmp/out.json" "$tmp/t.png"
  [[ "$(head -c 8 "$tmp/t.png" | od -An -tx1 | tr -d ' \n')" == 89504e470d0a1a0a ]] ||
    { echo "FAIL: not a PNG"; exit 1; }
else
  echo "timeline_plot.py: skipped (no matplotlib)"
fi
echo PASS
