#!/usr/bin/env python3
"""Check the format of the h2mux HTTP/1.1 corpus files (requests.txt, responses.txt).

Python 3 standard library only. It checks the format of README.md, not what a parser answers:
names `[a-z0-9_]+` and unique in a file, the key lines in order, an expectation valid for the
file, every escape valid, raw lines of printable ASCII that cannot be misread, the raw part not
empty; then it prints the number of cases per
expectation. Exit code 0 when both files are well formed, 1 otherwise.

    python3 tests/h1-corpus/check_format.py            # both files beside this script
    python3 tests/h1-corpus/check_format.py FILE...    # kind from the name: requests*/responses*
    python3 tests/h1-corpus/check_format.py --show NAME [FILE]   # print one case's bytes (repr)
"""

import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

EXPECT = {
    "requests": ("pass", "400", "501", "414", "431", "505"),
    "responses": ("pass", "502"),
}
COUNT_KEY = {"requests": "requests", "responses": "responses"}
NAME_RE = re.compile(r"[a-z0-9_]+\Z")
KEY_RE = re.compile(r"(expect|requests|responses|why|body):", re.I)
MAX_REPEAT = 10_000_000


class FormatError(Exception):
    pass


def _simple(text, i):
    """Decode the escape at text[i] == '\\' (not a repetition); return (bytes, next index)."""
    if i + 1 >= len(text):
        raise FormatError("a lone backslash at the end of a line")
    c = text[i + 1]
    if c == "r":
        return b"\r", i + 2
    if c == "n":
        return b"\n", i + 2
    if c == "t":
        return b"\t", i + 2
    if c == "0":
        return b"\0", i + 2
    if c == "\\":
        return b"\\", i + 2
    if c == "x":
        hh = text[i + 2:i + 4]
        if len(hh) != 2 or not re.fullmatch(r"[0-9a-fA-F]{2}", hh):
            raise FormatError("bad \\x escape %r" % text[i:i + 4])
        return bytes([int(hh, 16)]), i + 4
    raise FormatError("unknown escape %r" % text[i:i + 2])


def _decode_plain(text, allow_repeat):
    out = bytearray()
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            if i + 1 < len(text) and text[i + 1] == "{":
                if not allow_repeat:
                    raise FormatError("a repetition inside a repetition")
                end = text.find("}", i)
                if end < 0:
                    raise FormatError("a repetition without its closing '}' on the same line")
                m = re.fullmatch(r"([1-9][0-9]*)\*(.+)", text[i + 2:end], re.S)
                if not m:
                    raise FormatError("bad repetition %r (want \\{N*text})" % text[i:end + 1])
                n = int(m.group(1))
                if n > MAX_REPEAT:
                    raise FormatError("repetition count %d over %d" % (n, MAX_REPEAT))
                out += _decode_plain(m.group(2), False) * n
                i = end + 1
                continue
            b, i = _simple(text, i)
            out += b
            continue
        o = ord(ch)
        if o < 0x20 or o > 0x7E:
            raise FormatError("a byte that is not printable ASCII (%r): write it as an escape"
                              % ch)
        out.append(o)
        i += 1
    return bytes(out)


def decode(text):
    """Decode the raw-bytes text of a case. Literal newlines are ignored; an escape must end on
    the line it starts on."""
    return b"".join(_decode_plain(line, True) for line in text.split("\n"))


def parse(path, kind):
    """Return (cases, errors). A case is a dict: name, expect, count, why, body, data, line."""
    with open(path, "rb") as f:
        raw = f.read()
    errors = []
    if b"\r" in raw:
        errors.append("%s: the file has CR bytes; lines end in LF only" % path)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        return [], ["%s: not UTF-8 at byte %d" % (path, e.start)]
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    cases = []
    i = 0
    # Prologue: comments and blank lines only.
    while i < len(lines) and not lines[i].startswith("=="):
        if lines[i].strip() and not lines[i].startswith("#"):
            errors.append("%s:%d: text before the first case that is not a # comment"
                          % (path, i + 1))
        i += 1
    seen = {}
    while i < len(lines):
        start = i
        head = lines[i]
        i += 1
        body_lines = []
        while i < len(lines) and not lines[i].startswith("=="):
            body_lines.append((i + 1, lines[i]))
            i += 1
        where = "%s:%d" % (path, start + 1)
        try:
            case = parse_case(head, body_lines, kind)
        except FormatError as e:
            errors.append("%s: %s" % (where, e))
            continue
        case["line"] = start + 1
        if case["name"] in seen:
            errors.append("%s: name %r already used on line %d"
                          % (where, case["name"], seen[case["name"]]))
        seen[case["name"]] = start + 1
        cases.append(case)
    return cases, errors


def parse_case(head, body_lines, kind):
    if not head.startswith("== "):
        raise FormatError("a case starts with '== <name>'")
    name = head[3:]
    if not NAME_RE.match(name):
        raise FormatError("name %r is not [a-z0-9_]+" % name)
    case = {"name": name, "count": None, "body": None}
    rest = list(body_lines)

    def take(key):
        if rest and rest[0][1].startswith(key + ":"):
            value = rest.pop(0)[1][len(key) + 1:]
            if not value.startswith(" "):
                raise FormatError("%s: wants one space after the colon" % key)
            return value[1:]
        return None

    expect = take("expect")
    if expect is None:
        raise FormatError("%s: the line after the name must be 'expect: ...'" % name)
    if expect not in EXPECT[kind]:
        raise FormatError("%s: expect %r is not one of %s" % (name, expect,
                                                           ", ".join(EXPECT[kind])))
    case["expect"] = expect
    count = take(COUNT_KEY[kind])
    if count is not None:
        if expect != "pass":
            raise FormatError("%s: '%s:' only goes with expect: pass" % (name, COUNT_KEY[kind]))
        if not re.fullmatch(r"[1-9][0-9]*", count):
            raise FormatError("%s: %s: %r is not a positive number" % (name, COUNT_KEY[kind],
                                                                       count))
        case["count"] = int(count)
    why = take("why")
    if why is None or not why.strip():
        raise FormatError("%s: 'why: ...' (one line) must follow expect:" % name)
    if "RFC" not in why:
        raise FormatError("%s: why: names no RFC section" % name)
    case["why"] = why
    body = take("body")
    if body is not None:
        if expect != "pass":
            raise FormatError("%s: 'body:' only goes with expect: pass" % name)
        case["body"] = decode(body)
    text_lines = []
    for lineno, line in rest:
        if line.startswith("#"):
            raise FormatError("%s: raw line %d starts with '#' (ambiguous; write \\x23)"
                              % (name, lineno))
        if KEY_RE.match(line):
            raise FormatError("%s: raw line %d looks like a key line (escape its first byte)"
                              % (name, lineno))
        if line != line.rstrip(" \t") or "\t" in line:
            raise FormatError("%s: raw line %d has a literal tab or a trailing blank (escape "
                              "it: \\t, \\x20)" % (name, lineno))
        text_lines.append(line)
    data = decode("\n".join(text_lines))
    if not data:
        raise FormatError("%s: no raw bytes" % name)
    case["data"] = data
    return case


def kind_of(path):
    base = os.path.basename(path)
    if base.startswith("requests"):
        return "requests"
    if base.startswith("responses"):
        return "responses"
    raise SystemExit("%s: cannot tell requests from responses by the name" % path)


def main(argv):
    if argv[:1] == ["--show"]:
        if len(argv) < 2:
            raise SystemExit("--show NAME [FILE]")
        files = argv[2:] or [os.path.join(HERE, "requests.txt"),
                             os.path.join(HERE, "responses.txt")]
        for path in files:
            cases, _ = parse(path, kind_of(path))
            for c in cases:
                if c["name"] == argv[1]:
                    print("%s (%s) expect %s%s" % (c["name"], path, c["expect"],
                          "" if c["count"] is None else ", %d messages" % c["count"]))
                    print(repr(c["data"]) if len(c["data"]) < 4000 else
                          repr(c["data"][:2000]) + " ... (%d bytes)" % len(c["data"]))
                    return 0
        print("no case named %r" % argv[1])
        return 1
    files = argv or [os.path.join(HERE, "requests.txt"), os.path.join(HERE, "responses.txt")]
    bad = 0
    for path in files:
        kind = kind_of(path)
        cases, errors = parse(path, kind)
        for e in errors:
            print("error: " + e)
        bad += len(errors)
        counts = {e: 0 for e in EXPECT[kind]}
        for c in cases:
            counts[c["expect"]] += 1
        print("%s: %d cases (%s)%s" % (os.path.relpath(path), len(cases),
                                      ", ".join("%s %d" % kv for kv in counts.items()),
                                      "" if not errors else ", %d errors" % len(errors)))
    print("format ok" if not bad else "%d format errors" % bad)
    return 0 if not bad else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
