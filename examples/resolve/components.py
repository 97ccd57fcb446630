"""Exact-match connected components of a records file, independent of the crate.

usage: components.py DATA.jsonl CLUSTERS.jsonl

Records that share a normalized identity (type, value) end in one cluster, transitively:
what `cargo run --release --example resolve -- DATA.jsonl --plain --out plain.jsonl` must
reproduce. `score.py DATA.jsonl plain.jsonl CLUSTERS.jsonl` then says whether the two
partitions are identical. Normalization follows the crate's built-in normalizers: mobile
keeps digits (spaces, tabs, dashes, dots and parentheses dropped) and drops a +86 / 0086 / 86
before an 11-digit mainland number; email is trimmed and lowercased; other values trimmed.
"""
import json
import sys

SEPARATORS = set(" \t-.()")


def mobile(raw):
    raw = raw.strip()
    plus = raw.startswith("+")
    body = raw[1:] if plus else raw
    digits = "".join(c for c in body if c not in SEPARATORS)
    mainland = lambda d: len(d) == 11 and d[0] == "1"
    if plus:
        return digits[2:] if digits.startswith("86") and mainland(digits[2:]) else "+" + digits
    if mainland(digits):
        return digits
    for prefix in ("0086", "86"):
        if digits.startswith(prefix) and mainland(digits[len(prefix):]):
            return digits[len(prefix):]
    return digits


def normalize(identity_type, value):
    if identity_type == "mobile":
        return mobile(value)
    if identity_type == "email":
        return value.strip().lower()
    return value.strip()


def main():
    parent = []

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    owner = {}  # (type, normalized value) -> a record index holding it
    ids = []
    with open(sys.argv[1], encoding="utf-8") as f:
        for i, line in enumerate(f):
            record = json.loads(line)
            ids.append(record["record_id"])
            parent.append(i)
            for identity in record["identities"]:
                key = (identity["type"], normalize(identity["type"], identity["value"]))
                j = owner.setdefault(key, i)
                a, b = find(i), find(j)
                if a != b:
                    parent[max(a, b)] = min(a, b)
    with open(sys.argv[2], "w") as out:
        for i, record_id in enumerate(ids):
            out.write(json.dumps({"record_id": record_id, "cluster": find(i)}) + "\n")


if __name__ == "__main__":
    main()
