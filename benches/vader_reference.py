#!/usr/bin/env python3
"""Time vaderSentiment 3.3.2 on the ground-truth tweets, one thread.

    .tools/vader-venv/bin/python benches/vader_reference.py ../shared/data/vader/tweets_GroundTruth.txt

Prints the median texts/s over several passes (after one warm-up pass); the
`vader` bench runs this to state canary's ratio to the reference.
"""
import statistics
import sys
import time

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer


def main():
    path = sys.argv[1]
    passes = int(sys.argv[2]) if len(sys.argv) > 2 else 7
    with open(path, encoding="utf-8", newline="") as f:
        lines = f.read().split("\n")
    tweets = [l.rstrip("\r").split("\t", 2)[2] for l in lines if l.count("\t") >= 2]
    analyzer = SentimentIntensityAnalyzer()
    for t in tweets:
        analyzer.polarity_scores(t)
    rates = []
    for _ in range(passes):
        start = time.perf_counter()
        for t in tweets:
            analyzer.polarity_scores(t)
        rates.append(len(tweets) / (time.perf_counter() - start))
    print("python %s, %d tweets, %d passes" % (sys.version.split()[0], len(tweets), passes))
    print("median_texts_per_s %.0f" % statistics.median(rates))


if __name__ == "__main__":
    main()
