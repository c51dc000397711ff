#!/usr/bin/env python3
"""Extracts the published NAB detectors' detections on realTweets.

Usage: nab_published.py NAB_CHECKOUT > nab_published.json

For every detector with result files under results/<detector>/realTweets/
and a threshold per profile in config/thresholds.json, writes the timestamps
whose anomaly_score reaches that profile's threshold. canary scores these with
its own NAB scorer beside its own detections (crates/canary-testkit/src/nab.rs).
"""
import csv
import json
import os
import sys

TICKERS = ["AAPL", "AMZN", "CRM", "CVS", "FB", "GOOG", "IBM", "KO", "PFE", "UPS"]
PROFILES = ["standard", "reward_low_FP_rate"]


def main(root):
    thresholds = json.load(open(os.path.join(root, "config/thresholds.json")))
    out = {}
    for det in sorted(thresholds):
        base = os.path.join(root, "results", det, "realTweets")
        if not os.path.isdir(base):
            continue
        per = {}
        for prof in PROFILES:
            th = thresholds[det][prof]["threshold"]
            series = {}
            for t in TICKERS:
                path = os.path.join(base, f"{det}_Twitter_volume_{t}.csv")
                with open(path) as f:
                    series[t] = [
                        r["timestamp"]
                        for r in csv.DictReader(f)
                        if float(r["anomaly_score"]) >= th
                    ]
            per[prof] = {"threshold": th, "detections": series}
        out[det] = per
    json.dump(out, sys.stdout, separators=(",", ":"), sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])
