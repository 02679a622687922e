"""A small, independent CTI Server protocol encoder/decoder (Python 3 standard library only).

Built only from spec/messages.jsonl, spec/tags.tsv and the framing of docs/protocol.md
sections 2-6: an 8-byte header (MessageLength = body bytes, MessageType), big-endian
fields, floating fields as tag + length + value (1-byte tag and length up to protocol
version 19, 2-byte from 20), STRINGs NUL-terminated. Nothing here comes from src/.
"""

import json
import os
import struct

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
SIZES = {"CHAR": 1, "UCHAR": 1, "SHORT": 2, "USHORT": 2, "BOOL": 2, "INT": 4, "UINT": 4, "TIME": 4}
FMT = {"CHAR": "b", "UCHAR": "B", "SHORT": "h", "USHORT": "H", "BOOL": "H", "INT": "i", "UINT": "I", "TIME": "I"}


def _load():
    by_name, by_type = {}, {}
    with open(os.path.join(ROOT, "spec", "messages.jsonl")) as f:
        for line in f:
            m = json.loads(line)
            by_name[m["name"]] = m
            by_type[m["type"]] = m
    tags = {}
    with open(os.path.join(ROOT, "spec", "tags.tsv")) as f:
        next(f)
        for line in f:
            cols = line.rstrip("\n").split("\t")
            tags[int(cols[0])] = {"name": cols[1], "type": cols[2]}
    # spec/versions.tsv: fixed fields added at a version (MESSAGE.Field) and tag ranges.
    field_since, tag_since = {}, []
    with open(os.path.join(ROOT, "spec", "versions.tsv")) as f:
        next(f)
        for line in f:
            cols = line.rstrip("\n").split("\t")
            if cols[1] == "fixed_field":
                field_since[cols[2]] = int(cols[0])
            elif cols[1] == "tag":
                lo, _, hi = cols[2].partition("-")
                tag_since.append((int(lo), int(hi or lo), int(cols[0])))
    return by_name, by_type, tags, field_since, tag_since


MESSAGES, BY_TYPE, TAGS, FIELD_SINCE, TAG_SINCE = _load()


def _since(field, name=None):
    """First version with this fixed field: its `since` in messages.jsonl, else versions.tsv."""
    s = field.get("since")
    if s:
        return int(s[2:])
    return FIELD_SINCE.get("%s.%s" % (name, field["field"]), 0)


def tag_since(tag):
    """First version that has this floating tag (spec/versions.tsv), 0 if older than PV14."""
    for lo, hi, v in TAG_SINCE:
        if lo <= tag <= hi:
            return v
    return 0


def floating_for(name, version, floating):
    """Drop the floating fields whose tag the version does not have yet."""
    return [(k, v) for k, v in floating if tag_since(_float_spec(name, k)["tag"]) <= version]


def fixed_fields(name, version):
    """The fixed fields (MessageHeader excluded) present at this protocol version."""
    return [f for f in MESSAGES[name]["fixed"] if f["type"] != "MHDR" and _since(f, name) <= version]


def _float_spec(name, field):
    for fl in MESSAGES[name]["floating"]:
        if fl["field"] == field:
            return fl
    raise KeyError("%s has no floating field %s" % (name, field))


def encode_value(typ, value):
    if typ == "STRING":
        return value.encode("utf-8") + b"\0"
    if typ == "UNSPEC":
        return bytes.fromhex(value)
    if typ == "NAMEDVAR":  # docs/protocol.md section 5: name NUL value NUL
        return value["name"].encode() + b"\0" + value["value"].encode() + b"\0"
    if typ == "NAMEDARRAY":  # index UCHAR, name NUL, value NUL
        return bytes([value["index"]]) + value["name"].encode() + b"\0" + value["value"].encode() + b"\0"
    return struct.pack(">" + FMT[typ], value)


def encode(name, version, fixed, floating=()):
    """fixed: {field: int}; floating: [(field name, value)] in wire order. Returns the frame."""
    m = MESSAGES[name]
    body = b""
    for f in fixed_fields(name, version):
        body += struct.pack(">" + FMT[f["type"]], fixed[f["field"]])
    for field, value in floating:
        fl = _float_spec(name, field)
        data = encode_value(fl["type"], value)
        if version >= 20:
            body += struct.pack(">HH", fl["tag"], len(data)) + data
        else:
            assert fl["tag"] < 256
            body += struct.pack(">BB", fl["tag"], len(data)) + data
    return struct.pack(">II", len(body), m["type"]) + body


def decode(frame, version):
    """Decode one whole frame: (name, {fixed}, [(tag, tag name, value)])."""
    length, mtype = struct.unpack(">II", frame[:8])
    body = frame[8:8 + length]
    m = BY_TYPE[mtype]
    fixed, off = {}, 0
    for f in fixed_fields(m["name"], version):
        (fixed[f["field"]],) = struct.unpack(">" + FMT[f["type"]], body[off:off + f["size"]])
        off += f["size"]
    floating = []
    hdr = 4 if version >= 20 else 2
    while off < len(body):
        if hdr == 4:
            tag, n = struct.unpack(">HH", body[off:off + 4])
        else:
            tag, n = body[off], body[off + 1]
        data = body[off + hdr:off + hdr + n]
        off += hdr + n
        typ = TAGS.get(tag, {}).get("type", "UNSPEC")
        if typ == "STRING":
            value = data.rstrip(b"\0").decode("utf-8", "replace")
        elif typ in ("NAMEDVAR", "NAMEDARRAY"):
            rest = data[1:] if typ == "NAMEDARRAY" else data
            name, val = rest.split(b"\0")[:2]
            value = {"name": name.decode(), "value": val.decode()}
            if typ == "NAMEDARRAY":
                value = {"name": value["name"], "index": data[0], "value": value["value"]}
        elif typ in FMT and len(data) == SIZES[typ]:
            (value,) = struct.unpack(">" + FMT[typ], data)
        else:
            value = data.hex()
        floating.append((tag, TAGS.get(tag, {}).get("name"), value))
    return m["name"], fixed, floating


def read_frame(sock):
    """Read one whole message from a socket; None at end of stream."""
    def exact(n):
        buf = b""
        while len(buf) < n:
            chunk = sock.recv(n - len(buf))
            if not chunk:
                return None
            buf += chunk
        return buf
    hdr = exact(8)
    if hdr is None:
        return None
    (length,) = struct.unpack(">I", hdr[:4])
    body = exact(length) if length else b""
    return hdr + body


def selftest():
    """Decode the published PV20 sample vectors (spec/vectors/hs-v20.jsonl) with this module:
    every fixed field whose name the vector shares must agree, and the floating part must
    walk to the body's end. Run: python3 tools/independent/cti.py"""
    n, checked = 0, [0]
    with open(os.path.join(ROOT, "spec", "vectors", "hs-v20.jsonl")) as f:
        for line in f:
            v = json.loads(line)
            frame = bytes.fromhex(v["frame_hex"])
            name, fixed, floating = decode(frame, v["protocol_version"])
            for k, want in v["fields"].items():
                if k in fixed:
                    assert fixed[k] == want, (v["name"], k, fixed[k], want)
            want_fl = [(x[0], x[2]) for x in v["fields"].get("floating", []) if isinstance(x, list)]
            assert [t for t, _, _ in floating] == [t for t, _ in want_fl], v["name"]
            for (tag, value), (_, _, got) in zip(want_fl, floating):
                if isinstance(value, (int, str)) and TAGS.get(tag, {}).get("type") not in ("NAMEDVAR", "NAMEDARRAY"):
                    assert got == value, (v["name"], tag, got, value)
                    checked[0] += 1
            n += 1
    print("selftest: %d published vectors decoded, %d floating values agree" % (n, checked[0]))


if __name__ == "__main__":
    selftest()
