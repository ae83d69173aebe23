#!/usr/bin/env python3
"""Writes a mongodump collection of about SIZE_MB megabytes for scripts/bench_mongo.sh.

    gen_mongodump.py DIR SIZE_MB

DIR/events.bson holds BSON documents exactly as mongodump writes them (each one
starting with its int32 length, per the BSON specification), DIR/events.metadata.json
its metadata. Each document (about 1 KiB) has an ObjectId _id, strings, int32, int64,
double, Decimal128 zero, a date, a bool, a binary, a sub-document and an array of
sub-documents. Deterministic: the same SIZE_MB gives the same file.
"""
import os
import struct
import sys


def cstring(s):
    return s.encode() + b"\x00"


def element(kind, key, payload):
    return bytes([kind]) + cstring(key) + payload


def string(s):
    b = s.encode()
    return struct.pack("<i", len(b) + 1) + b + b"\x00"


def document(elements):
    body = b"".join(elements) + b"\x00"
    return struct.pack("<i", len(body) + 4) + body


def event(i):
    oid = struct.pack(">I", 0x65F00000) + struct.pack(">Q", i)
    words = " ".join("word%d" % ((i * 7 + k) % 997) for k in range(40))
    items = document(
        [
            element(0x03, str(k), document([
                element(0x02, "sku", string("sku-%d" % ((i + k) % 5000))),
                element(0x10, "qty", struct.pack("<i", k + 1)),
                element(0x01, "price", struct.pack("<d", (i % 1000) / 7.0 + k)),
            ]))
            for k in range(4)
        ]
    )
    return document(
        [
            element(0x07, "_id", oid),
            element(0x02, "type", string(("click", "view", "buy")[i % 3])),
            element(0x02, "user", string("user-%d@example.com" % (i % 100000))),
            element(0x10, "n", struct.pack("<i", i % 2147483647)),
            element(0x12, "big", struct.pack("<q", i * 1000003)),
            element(0x01, "score", struct.pack("<d", i / 3.0)),
            element(0x13, "amount", bytes(14) + b"\x40\x30"),  # Decimal128 0
            element(0x09, "at", struct.pack("<q", 1700000000000 + i * 1000)),
            element(0x08, "ok", b"\x01" if i % 2 else b"\x00"),
            element(0x05, "raw", struct.pack("<i", 16) + b"\x00" + bytes((i + k) % 256 for k in range(16))),
            element(0x03, "meta", document([
                element(0x02, "ua", string("Mozilla/5.0 (X11; Linux x86_64) bench/%d" % (i % 50))),
                element(0x02, "text", string(words)),
            ])),
            element(0x04, "items", items),
        ]
    )


def main():
    out, size_mb = sys.argv[1], int(sys.argv[2])
    os.makedirs(out, exist_ok=True)
    target = size_mb * 1000 * 1000
    written = 0
    i = 0
    with open(os.path.join(out, "events.bson"), "wb", buffering=1 << 20) as f:
        while written < target:
            d = event(i)
            f.write(d)
            written += len(d)
            i += 1
    with open(os.path.join(out, "events.metadata.json"), "w") as f:
        f.write('{"options":{},"indexes":[{"v":{"$numberInt":"2"},"key":{"_id":{"$numberInt":"1"}},'
                '"name":"_id_"}],"uuid":"00000000000000000000000000000001",'
                '"collectionName":"events","type":"collection"}')
    print("%d documents, %d bytes" % (i, written))


if __name__ == "__main__":
    main()
