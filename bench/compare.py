#!/usr/bin/python3
"""Reads the JSON lines a benchmark run printed and tabulates a2q against its peer per (model, threads).
Usage: compare.py RESULTS_FILE METRIC   (METRIC lower is better, e.g. epoch_seconds)"""
import json
import sys


def main():
    path, metric = sys.argv[1], sys.argv[2]
    rows = [json.loads(line) for line in open(path) if line.startswith("{")]
    ours = {(r["model"], r["threads"]): r for r in rows if r["peer"] == "a2q"}
    peers = {(r["model"], r["threads"]): r for r in rows if r["peer"] != "a2q"}
    print(f"\n{'model':<8}{'threads':>8}{'a2q ' + metric:>22}{'peer ' + metric:>22}{'a2q/peer':>10}"
          f"{'a2q GFLOP/s':>13}{'a2q MiB':>9}")
    for key in sorted(ours):
        a = ours[key]
        p = peers.get(key)
        ratio = a[metric] / p[metric] if p else float("nan")
        print(f"{key[0]:<8}{key[1]:>8}{a[metric]:>22.3f}{(p[metric] if p else float('nan')):>22.3f}"
              f"{ratio:>10.3f}{a.get('gflops', 0):>13.1f}{a.get('peak_rss_mib', 0):>9.0f}")


if __name__ == "__main__":
    main()
