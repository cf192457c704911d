#!/usr/bin/env python3
"""CPU time per message of each thread of a running server, by thread name.

    bench/thread_cpu.py PID SECONDS MESSAGES

Reads /proc/PID/task/*/schedstat (run time in ns) and status (context switches) twice,
SECONDS apart, and divides each thread name's difference by MESSAGES (what the load sent in
that time, e.g. 20,000 for 10 s of `dm --rate 2000`). BENCHMARKS.md says how it is started
beside `bench/full.sh`."""
import os
import sys


def snapshot(pid):
    """{thread id: (name, run ns, voluntary switches, involuntary switches)}"""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                name = f.read().strip()
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                run_ns = int(f.read().split()[0])
            switches = {}
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                for line in f:
                    key, _, value = line.partition(":")
                    if key.endswith("ctxt_switches"):
                        switches[key] = int(value)
        except OSError:  # the thread ended meanwhile
            continue
        out[tid] = (name, run_ns, switches.get("voluntary_ctxt_switches", 0),
                    switches.get("nonvoluntary_ctxt_switches", 0))
    return out


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    pid, seconds, messages = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
    import time
    before = snapshot(pid)
    time.sleep(seconds)
    after = snapshot(pid)
    by_name = {}
    for tid, (name, run_ns, vol, invol) in after.items():
        if tid not in before:
            continue
        _, run0, vol0, invol0 = before[tid]
        total = by_name.setdefault(name, [0, 0, 0])
        total[0] += run_ns - run0
        total[1] += vol - vol0
        total[2] += invol - invol0
    all_ns = 0
    for name, (run_ns, vol, invol) in sorted(by_name.items(), key=lambda kv: -kv[1][0]):
        if run_ns == 0:
            continue
        all_ns += run_ns
        print(f"{name:14s} {run_ns / 1e3 / messages:7.1f} us/msg  "
              f"switches/msg {vol / messages:5.2f} voluntary, {invol / messages:5.2f} involuntary")
    print(f"{'all':14s} {all_ns / 1e3 / messages:7.1f} us/msg")


if __name__ == "__main__":
    main()
