#!/usr/bin/env python3
"""Cross-check testdata/vectors.txt without the Go codec.

An independent reading of firmware/PROTOCOL.md: CRC from zlib.crc32, COBS written here from the
split-on-zero definition (not a port of the Go encoder), a stream decoder written from the
prose, and the args- and data-length tables of §3.3 for the `answer` and `data_error` fields.
Exit status 0 when every vector agrees. Python 3 standard library only.
"""
import struct
import sys
import zlib

MAX_FRAME, MAX_ENCODED, MIN_FRAME = 256, 258, 18
BODY_LEN = {0x01: (16, 16), 0x02: (4, 4), 0x10: (1, 238), 0x11: (6, 238)}


def cobs_encode(data):
    # Split data+phantom zero into zero-terminated groups; long groups become 0xFF blocks of 254.
    out = bytearray()
    for group in (data + b"\x00").split(b"\x00")[:-1]:
        while len(group) >= 254:
            out += b"\xff" + group[:254]
            group = group[254:]
        out += bytes([len(group) + 1]) + group
    return bytes(out)


def cobs_decode(enc):
    out, i = bytearray(), 0
    while i < len(enc):
        code = enc[i]
        if i + code > len(enc):
            return None
        out += enc[i + 1 : i + code]
        i += code
        if i < len(enc) and code != 0xFF:
            out.append(0)
        if i == len(enc) and code == 0xFF:
            return None
    return bytes(out)


def check(raw):
    if len(raw) > MAX_FRAME:
        return "err:too_long"
    if len(raw) < MIN_FRAME:
        return "err:too_short"
    if zlib.crc32(raw[:-4]) != struct.unpack("<I", raw[-4:])[0]:
        return "err:crc"
    if raw[0] != 1:
        return "err:version"
    if raw[1] not in BODY_LEN:
        return "err:type"
    lo, hi = BODY_LEN[raw[1]]
    if not lo <= len(raw) - MIN_FRAME <= hi:
        return "err:body_length"
    return "ok"


def stream(wire):
    outcomes, buf, overflow = [], bytearray(), False
    for b in wire:
        if b == 0:
            if not overflow and buf:
                raw = cobs_decode(bytes(buf))
                outcomes.append("err:cobs" if raw is None else check(raw))
            buf, overflow = bytearray(), False
        elif not overflow:
            if len(buf) == MAX_ENCODED:
                outcomes.append("err:too_long")
                buf, overflow = bytearray(), True
            else:
                buf.append(b)
    return outcomes or ["none"]


def hexbytes(v):
    return b"" if v == "-" else bytes.fromhex(v)


def typed_mismatch(f):
    body, t = hexbytes(f["body"]), int(f["type"], 0)
    if t == 0x01:
        want = {"uid": body[:12].hex(), "fw": "%d.%d.%d" % tuple(body[12:15]), "reset_cause": str(body[15])}
    elif t == 0x02:
        temp, mv = struct.unpack("<hH", body)
        want = {"temp_centi_c": str(temp), "supply_mv": str(mv)}
    elif t == 0x10:
        want = {"op": "0x%02x" % body[0], "args": body[1:].hex() or "-"}
    else:
        req, op, status = struct.unpack("<IBB", body[:6])
        want = {"req_seq": str(req), "op": "0x%02x" % op, "status": str(status), "data": body[6:].hex() or "-"}
    for k, v in want.items():
        if f.get(k) != v:
            return f"field {k}={f.get(k)}, body says {v}"
    return None


# PROTOCOL.md §3.3: args length per op (FAULT: per code); ops not listed answer 1.
ARGS_LEN = {0x01: 0, 0x02: 0, 0x03: 2, 0x04: 0, 0x06: 4, 0x07: 0, 0x08: 8}
FAULT_ARGS_LEN = {0x00: 0, 0x01: 0, 0x02: 0, 0x03: 0, 0x04: 4}  # bytes after the code


# PROTOCOL.md §3.3: RESPONSE data length per op when status is 0 (data_error= when it differs).
DATA_LEN = {0x01: 0, 0x02: 15, 0x03: 0, 0x04: 16, 0x05: 0, 0x06: 9, 0x07: 2, 0x08: 2}


def data_fits(body):
    op, status, data = body[4], body[5], body[6:]
    return status != 0 or op not in DATA_LEN or len(data) == DATA_LEN[op]


def answer(body):
    op, args = body[0], body[1:]
    if op == 0x05:
        ok = len(args) >= 1 and args[0] in FAULT_ARGS_LEN and len(args) == 1 + FAULT_ARGS_LEN[args[0]]
        return 0 if ok else 2
    if op not in ARGS_LEN:
        return 1
    return 0 if len(args) == ARGS_LEN[op] else 2


def main():
    failures = checked = 0
    with open(sys.argv[1] if len(sys.argv) > 1 else __file__.rsplit("/", 1)[0] + "/vectors.txt") as fh:
        for line in fh:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            name, expect, wire, *kv = line.split(" ")
            wire = bytes.fromhex(wire)
            fields = dict(x.split("=", 1) for x in kv)
            got = ",".join(stream(wire))
            if got != expect:
                print(f"{name}: stream outcomes {got}, vector says {expect}")
                failures += 1
            if "ok" in expect.split(","):
                bad = typed_mismatch(fields)
                if bad:
                    print(f"{name}: {bad}")
                    failures += 1
                if "answer" in fields and answer(hexbytes(fields["body"])) != int(fields["answer"]):
                    print(f"{name}: answer={fields['answer']}, the op table says {answer(hexbytes(fields['body']))}")
                    failures += 1
                if int(fields["type"], 0) == 0x11 and data_fits(hexbytes(fields["body"])) != ("data_error" not in fields):
                    print(f"{name}: data_error={fields.get('data_error')}, the data table says fits={data_fits(hexbytes(fields['body']))}")
                    failures += 1
            if expect == "ok" and wire.index(0) == len(wire) - 1:
                hdr = struct.pack("<BBIII", int(fields["ver"], 0), int(fields["type"], 0), int(fields["boot"], 0),
                                  int(fields["seq"], 0), int(fields["time_ms"], 0))
                raw = hdr + hexbytes(fields["body"])
                raw += struct.pack("<I", zlib.crc32(raw))
                want = cobs_encode(raw) + b"\x00"
                if want != wire:
                    print(f"{name}: independent encoding {want.hex()}, vector has {wire.hex()}")
                    failures += 1
            checked += 1
    print(f"{checked} vectors checked, {failures} failures")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
