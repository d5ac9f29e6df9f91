#!/usr/bin/python3
"""The memory timeline as a picture: bytes in use over time, by op, from //tools:timeline's JSON.

    bazel run -c opt //tools:timeline -- TRACE /tmp/t.json
    /usr/bin/python3 tools/timeline_plot.py /tmp/t.json OUT.png [--arena-size BYTES]

One line per op (the "memory in use by op" counter), the total of the threads beneath them, and a
red mark wherever a thread holds more than --arena-size (default 1 MiB, corepy's default thread
arena): what the arena could not hold there went to its upstream, a spill. Needs matplotlib
(Debian's python3-matplotlib).
"""
import argparse
import json
import sys


def load(path):
    with open(path, encoding="utf-8") as f:
        events = json.load(f)["traceEvents"]
    by_op, threads = {}, {}
    for e in events:
        if e.get("ph") != "C":
            continue
        t = e["ts"] / 1000.0  # milliseconds
        if e["name"] == "memory in use by op":
            for op, held in e["args"].items():
                by_op.setdefault(op, []).append((t, held))
        elif e["name"].startswith("memory in use, thread "):
            threads.setdefault(e["name"][len("memory in use, "):], []).append(
                (t, e["args"]["bytes"]))
    return by_op, threads


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("timeline_json")
    parser.add_argument("png")
    parser.add_argument("--arena-size", type=int, default=1 << 20)
    args = parser.parse_args(argv)
    import matplotlib  # pylint: disable=import-outside-toplevel
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel

    by_op, threads = load(args.timeline_json)
    if not by_op:
        print(f"{args.timeline_json}: no memory counters (an empty trace?)", file=sys.stderr)
        return 1
    fig, ax = plt.subplots(figsize=(10, 4.5), dpi=100)
    for op, points in sorted(by_op.items()):
        if max(h for _, h in points) == 0:
            continue
        ax.step([t for t, _ in points], [h / 1024 for _, h in points], where="post", label=op,
                linewidth=1)
    spills = [(t, h) for points in threads.values() for t, h in points if h > args.arena_size]
    if spills:
        ax.scatter([t for t, _ in spills], [h / 1024 for _, h in spills], color="red", s=12,
                   zorder=3, label=f"a thread past {args.arena_size // 1024} KiB (spills)")
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("KiB in use")
    ax.set_title(f"memory in use by op ({len(threads)} threads)")
    ax.legend(fontsize=7, ncol=2, loc="upper right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(args.png)
    print(f"wrote {args.png}: {len(by_op)} ops, {len(threads)} threads, {len(spills)} spill marks")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
