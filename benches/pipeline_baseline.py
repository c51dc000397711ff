"""What a user would write instead of canary: the same pipeline in plain Python.

json.loads per line, the text canary reads (extended_tweet.full_text, the
retweeted status' text), watch matching with one compiled regex per watch
(word boundaries, case-insensitive, plus the mention/hashtag entities),
language from langid restricted to the same market languages, VADER
(vaderSentiment 3.3.2) for English, and counts per 5-minute window, watch and
language. Single-threaded, as such a script is.

    .tools/vader-venv/bin/python benches/pipeline_baseline.py DUMP [LINES] [CONFIG]

Prints statuses/s over the first LINES lines (default 20000).
"""

import json
import re
import sys
import time
from collections import Counter

import langid
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

WINDOW_MS = 5 * 60 * 1000
LANGS = ["en", "es", "pt", "fr", "de", "it", "ar", "ca", "eu", "hi", "ja"]


def load_watches(path):
    """The [[watch]] tables of a canary config (names and match lists only)."""
    watches, name = [], None
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line.startswith("name"):
                name = line.split("=", 1)[1].strip().strip('"')
            elif line.startswith("match"):
                pats = re.findall(r'"([^"]*)"', line.split("=", 1)[1])
                watches.append((name, pats))
    return watches


def compile_watch(pats):
    alts, handles, tags = [], set(), set()
    for p in pats:
        p = p.lower()
        if p.startswith("@"):
            handles.add(p[1:])
        elif p.startswith("#"):
            tags.add(p[1:])
        alts.append(r"\s+".join(re.escape(w) for w in p.split()))
    rx = re.compile(r"(?<!\w)(?:" + "|".join(alts) + r")(?!\w)", re.IGNORECASE)
    return rx, handles, tags


def post_text(s):
    src = s.get("retweeted_status") or s
    ext = src.get("extended_tweet")
    if ext and ext.get("full_text"):
        return ext["full_text"], ext.get("entities") or src.get("entities") or {}
    return src.get("full_text") or src.get("text"), src.get("entities") or {}


def main():
    dump = sys.argv[1]
    limit = int(sys.argv[2]) if len(sys.argv) > 2 else 20000
    config = sys.argv[3] if len(sys.argv) > 3 else dump.rsplit("/", 1)[0] + "/bench.toml"
    watches = [(n, compile_watch(p)) for n, p in load_watches(config)]
    langid.set_languages(LANGS)
    vader = SentimentIntensityAnalyzer()
    counts = Counter()
    langid.classify("warm up the model")
    statuses = 0
    t0 = time.perf_counter()
    with open(dump, encoding="utf-8") as f:
        for n, line in enumerate(f):
            if n >= limit:
                break
            rec = json.loads(line)
            if "created_at" not in rec:
                continue
            statuses += 1
            text, ents = post_text(rec)
            if not text:
                continue
            text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
            ms = int(rec["timestamp_ms"])
            mentions = {m["screen_name"].lower() for m in ents.get("user_mentions", [])}
            tags = {h["text"].lower() for h in ents.get("hashtags", [])}
            hit = [
                name
                for name, (rx, handles, wtags) in watches
                if rx.search(text) or handles & mentions or wtags & tags
            ]
            if not hit:
                continue
            lang, _ = langid.classify(text)
            negative = None
            if lang == "en":
                negative = vader.polarity_scores(text)["compound"] <= -0.05
            window = ms - ms % WINDOW_MS
            for name in hit:
                counts[(window, name, lang, negative)] += 1
    secs = time.perf_counter() - t0
    print(f"statuses: {statuses} in {secs:.2f}s over the first {limit} lines")
    print(f"statuses/s: {statuses / secs:.0f}")
    print(f"window/watch/lang keys: {len(counts)}; counted: {sum(counts.values())}")


if __name__ == "__main__":
    main()
