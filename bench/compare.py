#!/usr/bin/python3
"""Reads the JSON lines a benchmark run printed and tabulates a2q against its peer per (model, threads).
Usage: compare.py RESULTS_FILE METRIC   (METRIC lower is better, e.g. epoch_seconds)

Lines with "probe": "fp32_fma_peak" give the measured peak per thread count. A peer's GFLOP/s is computed
with a2q's count of FLOPs per sample for the same model (the same networks), and a2q's QAT rows (quant
other than float) are also shown as a ratio to the float epoch of the same model."""
import json
import sys


def main():
    path, metric = sys.argv[1], sys.argv[2]
    rows = [json.loads(line) for line in open(path) if line.startswith("{")]
    peaks = {r["threads"]: r["gflops"] for r in rows if r.get("probe") == "fp32_fma_peak"}
    ours = {(r["model"], r.get("quant", "float"), r["threads"]): r for r in rows if r.get("peer") == "a2q"}
    peers = {(r["model"], r["threads"]): r for r in rows if r.get("peer", "a2q") != "a2q" and "probe" not in r}
    print(f"\n{'model':<8}{'quant':<7}{'threads':>8}{'peak GF/s':>10}{'a2q ' + metric:>20}{'GF/s':>8}{'% peak':>8}"
          f"{'peer ' + metric:>20}{'peer GF/s':>10}{'a2q/peer':>10}{'QAT/float':>10}{'a2q MiB':>9}")
    for key in sorted(ours):
        model, quant, threads = key
        a = ours[key]
        peak = peaks.get(threads, a.get("peak_gflops", float("nan")))
        gflops = a.get("gflops", float("nan"))
        p = peers.get((model, threads)) if quant == "float" else None
        peer_value = p[metric] if p else float("nan")
        peer_gflops = (p["samples"] * a["flops_per_sample"] / p[metric] / 1e9) if p and "samples" in p else float("nan")
        ratio = a[metric] / peer_value if p else float("nan")
        base = ours.get((model, "float", threads))
        qat = a[metric] / base[metric] if base and quant != "float" else float("nan")
        print(f"{model:<8}{quant:<7}{threads:>8}{peak:>10.1f}{a[metric]:>20.3f}{gflops:>8.1f}"
              f"{100.0 * gflops / peak:>7.1f}%{peer_value:>20.3f}{peer_gflops:>10.1f}{ratio:>10.3f}{qat:>10.3f}"
              f"{a.get('peak_rss_mib', 0):>9.0f}")


if __name__ == "__main__":
    main()
