"""Compare our exact order-1 Markov removal effects with ChannelAttribution.

    python scripts/crosscheck/markov.py DIR

DIR holds paths.csv and fit.json from `go run ./scripts/crosscheck`. Runs
ChannelAttribution's markov_model (a simulation) on paths.csv at
nsim_start=1e7 and prints, as markdown, both removal-effect shares per
channel and their difference; exits 1 when a share differs by more than 1%
of itself.
"""
import json
import sys
import time

import pandas as pd
from ChannelAttribution import markov_model

TOLERANCE = 0.01  # relative, per channel share


def main(d):
    df = pd.read_csv(f"{d}/paths.csv")
    with open(f"{d}/fit.json") as f:
        fit = json.load(f)
    start = time.time()
    res = markov_model(df, var_path="path", var_conv="total_conversions", var_null="total_null",
                       order=1, nsim_start=1e7, out_more=True, seed=15, verbose=0)
    secs = time.time() - start
    re = res["removal_effects"]
    col = [c for c in re.columns if c != "channel_name"][0]
    theirs = dict(zip(re["channel_name"], re[col]))
    total = sum(theirs.values())
    ours = {e["channel"]: e for e in fit["effects"]}
    print(f"{len(df)} distinct paths, {int(df.total_conversions.sum())} conversions, "
          f"{int(df.total_null.sum())} null paths; ChannelAttribution markov_model order 1, "
          f"nsim_start=1e7: {secs:.1f} s. Our exact P = {fit['p']:.6f}.")
    print()
    print("| channel | our RE (exact) | their RE | our share | their share | share diff (relative) |")
    print("|---|---:|---:|---:|---:|---:|")
    worst, failed = 0.0, []
    for ch in sorted(ours):
        o = ours[ch]
        t_re = theirs.get(ch, float("nan"))
        t_share = t_re / total
        rel = abs(o["share"] - t_share) / t_share
        worst = max(worst, rel)
        if not rel <= TOLERANCE:
            failed.append(ch)
        print(f"| {ch} | {o['removal_effect']:.6f} | {t_re:.6f} | {o['share']:.6f} | {t_share:.6f} | {rel:.3%} |")
    # The same at ChannelAttribution's default settings, for scale.
    d_res = markov_model(df, var_path="path", var_conv="total_conversions", var_null="total_null",
                         order=1, out_more=True, seed=15, verbose=0)["removal_effects"]
    d_theirs = dict(zip(d_res["channel_name"], d_res[col]))
    d_total = sum(d_theirs.values())
    d_worst = max(abs(ours[ch]["share"] - d_theirs[ch] / d_total) / (d_theirs[ch] / d_total) for ch in ours)
    print()
    print(f"At ChannelAttribution's default settings the worst relative share difference is {d_worst:.3%}.")
    print()
    verdict = "PASS" if not failed else "FAIL (" + ", ".join(failed) + ")"
    print(f"Worst relative share difference {worst:.3%} (target <= {TOLERANCE:.0%}): {verdict}")
    return 0 if not failed else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
