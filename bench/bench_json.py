"""Loads a Google Benchmark JSON file, also one cut short: a benchmark binary killed by a time
limit leaves its output without the closing brackets (Google Benchmark writes each case as it
finishes), so the cases up to the last complete one are kept and the result is marked truncated.
Shared by the bench/*_summary.py scripts."""
import json


def load(path):
    """The parsed document; doc["truncated"] is True when the file had to be repaired."""
    text = open(path).read()
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    # Cut after the last complete case ("\n    }" closes an entry of "benchmarks") and close the list.
    cut = text.rfind("\n    }")
    if cut >= 0:
        try:
            doc = json.loads(text[:cut + len("\n    }")] + "\n  ]\n}\n")
            doc["truncated"] = True
            return doc
        except json.JSONDecodeError:
            pass
    # Not even one case finished: the context alone, if it parses.
    head = text.find('"benchmarks"')
    if head > 0:
        try:
            doc = json.loads(text[:head].rstrip().rstrip(",") + "\n}\n")
            doc.update({"benchmarks": [], "truncated": True})
            return doc
        except json.JSONDecodeError:
            pass
    raise ValueError(f"{path}: not Google Benchmark JSON, even cut short")


def self_test():
    full = ('{\n  "context": {\n    "date": "d"\n  },\n  "benchmarks": [\n    {\n      "name": "a",\n'
            '      "real_time": 1\n    },\n    {\n      "name": "b",\n      "real_time": 2\n    }\n  ]\n}\n')
    import os
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "x.json")
        for text, names, trunc in ((full, ["a", "b"], False),
                                   (full[:full.rfind("  ]")], ["a", "b"], True),
                                   (full[:full.rfind('"real_time": 2')], ["a"], True),
                                   (full[:full.find("    {")], [], True)):
            open(p, "w").write(text)
            doc = load(p)
            assert [b["name"] for b in doc["benchmarks"]] == names, (text, doc)
            assert doc.get("truncated", False) == trunc, doc
            assert doc["context"]["date"] == "d"
    return True
