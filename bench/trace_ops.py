#!/usr/bin/python3
"""Compares two chrome traces of ops (bench_train's BENCH_TRACE): milliseconds per step spent in
each op name, self time (an op's time minus the ops nested in it on the same thread), the ops
with the largest difference first.   bench/trace_ops.py A.json B.json STEPS [TOP]"""
import json, sys
from collections import defaultdict

def self_ms(path, steps):
    data = json.load(open(path))
    events = data['traceEvents'] if isinstance(data, dict) else data
    by_thread = defaultdict(list)
    for e in events:
        if e.get('ph') == 'X' and 'dur' in e:
            by_thread[e.get('tid')].append((float(e['ts']), float(e['dur']), e['name']))
    total = defaultdict(float)
    for evs in by_thread.values():
        evs.sort(key=lambda e: (e[0], -e[1]))
        stack = []  # [end, name, self]
        def pop():
            end, name, own = stack.pop()
            total[name] += own
        for ts, dur, name in evs:
            while stack and stack[-1][0] <= ts: pop()
            if stack: stack[-1][2] -= dur
            stack.append([ts + dur, name, dur])
        while stack: pop()
    return {k: v / 1000 / steps for k, v in total.items()}

a, b = self_ms(sys.argv[1], int(sys.argv[3])), self_ms(sys.argv[2], int(sys.argv[3]))
top = int(sys.argv[4]) if len(sys.argv) > 4 else 25
print(f"{'op (self ms / step)':40s} {'A':>9s} {'B':>9s} {'A-B':>9s}")
print(f"{'all':40s} {sum(a.values()):9.1f} {sum(b.values()):9.1f} {sum(a.values()) - sum(b.values()):9.1f}")
for k in sorted(set(a) | set(b), key=lambda k: -abs(a.get(k, 0) - b.get(k, 0)))[:top]:
    print(f"{k[:40]:40s} {a.get(k, 0):9.1f} {b.get(k, 0):9.1f} {a.get(k, 0) - b.get(k, 0):9.1f}")
