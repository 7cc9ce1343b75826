#!/usr/bin/env python3
"""Writes the HTTP/1.1 fuzz seeds from the corpus: seeds/h1server/* from
tests/h1-corpus/requests.txt, seeds/h1client/* from responses.txt. Each seed is a selector
byte (limits, method, cut size; see src/h1.rs) and the case's bytes."""
import os
import sys

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "tests", "h1-corpus"))
import check_format  # noqa: E402


def main():
    for target, name in (("h1server", "requests.txt"), ("h1client", "responses.txt")):
        out = os.path.join(here, "seeds", target)
        os.makedirs(out, exist_ok=True)
        path = os.path.join(here, "..", "tests", "h1-corpus", name)
        cases, errors = check_format.parse(path, check_format.kind_of(path))
        assert not errors, errors
        for i, case in enumerate(cases):
            method = 1 if case["name"].startswith("head_") else 0
            for sel in (method << 1 | (i % 7) << 3, method << 1 | 1 | (i % 5) << 3):
                with open(os.path.join(out, f"{case['name']}-{sel}"), "wb") as f:
                    f.write(bytes([sel]) + case["data"])
        print(f"{target}: {2 * len(cases)} seeds")


main()
