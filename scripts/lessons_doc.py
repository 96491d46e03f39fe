#!/usr/bin/env python3
"""Writes docs/LESSONS.md's lesson sections from resources/lessons/*.json (the text above the
marker line is kept): each lesson's claim, its figure, what it measured, and how to run it.

    python3 scripts/lessons_doc.py
"""
import json
import pathlib

root = pathlib.Path(__file__).resolve().parent.parent
doc = root / "docs" / "LESSONS.md"
marker = "<!-- The sections below are written by scripts/lessons_doc.py"
head = doc.read_text().split(marker)[0]
lessons = []
for f in sorted((root / "resources" / "lessons").glob("*.json")):
    j = json.loads(f.read_text())
    lessons.append((j.get("order", 1000), f.stem, j))
out = [head + marker + " from resources/lessons/*.json. -->\n"]
for order, name, j in sorted(lessons):
    if "sweep" in j:
        runs = "It trains the sweep `resources/sweeps/%s.json`" % j["sweep"]
    elif "example" in j:
        runs = "It trains nothing: it starts from the ready-trained example `resources/examples/%s`" % j["example"]
    else:
        runs = "It trains the preset `%s`%s" % (j["preset"], "".join(" `--set %s`" % s for s in j.get("set", [])))
    if "label_curve" in j:
        c = j["label_curve"]
        runs += (", then fine-tunes it%s and the same network from scratch on %s labels per class, %d steps each"
                 % (" (its first %d stages frozen)" % c["freeze"] if c.get("freeze") else "",
                    ", ".join(str(n) for n in c["labels_per_class"]), c.get("steps", 300)))
    out.append("\n## %s\n" % j["title"])
    out.append("\n> %s\n>\n> — %s\n" % (j["claim"], j.get("source", "the lecture notes")))
    out.append("\n%s %s (about %g min on 2 idle cores).\n" % (j["explanation"], runs, j.get("minutes", 0)))
    if j.get("figure"):
        out.append("\n![%s](%s)\n" % (j["title"], pathlib.Path(j["figure"]).relative_to("docs")))
    if j.get("result"):
        out.append("\n**What it showed here.** %s\n" % j["result"])
    else:
        out.append("\n**Not yet measured here**: no figure in docs/lessons/ yet.\n")
    out.append("\n**Look at.** %s\n" % j["look_at"])
    out.append("\n```\npretext-cli lesson %s        # or: ./build/app/pretext --lesson %s --start\n```\n" % (name, name))
doc.write_text("".join(out))
print("wrote %s: %d lessons" % (doc, len(lessons)))
