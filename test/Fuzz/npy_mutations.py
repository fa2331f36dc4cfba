"""Corrupted .npy inputs for moe-run (used by fuzz.py).

The layer is test/Tools/moe-run/Inputs/tiny_layer.mlir (x and logits
tensor<?x2xf32>, w13 tensor<2x2x2xf32>, w2 tensor<2x1x2xf32>). prepare()
writes valid inputs; mutate() makes one corrupted x or logits file: header
dictionary (shape huge, negative, float, empty, missing; descr other dtypes,
byte order, garbage, twice; fortran_order), preamble (magic, version,
header length), data (truncated, extended) and bytes.
"""
import os
import struct

LAYER = os.path.join("test", "Tools", "moe-run", "Inputs", "tiny_layer.mlir")


def npy(header: str, data: bytes, version=(1, 0), magic=b"\x93NUMPY",
        length=None) -> bytes:
    """A .npy file with `header` as its dictionary text, padded as NumPy does."""
    text = header.encode("latin1")
    pre = 10 if version[0] == 1 else 12
    pad = (64 - (pre + len(text) + 1) % 64) % 64
    text += b" " * pad + b"\n"
    size = len(text) if length is None else length
    fmt = "<H" if version[0] == 1 else "<I"
    try:
        packed = struct.pack(fmt, size)
    except struct.error:
        packed = struct.pack(fmt, size & (0xFFFF if version[0] == 1 else 0xFFFFFFFF))
    return magic + bytes(version) + packed + text + data


def header(descr="<f4", fortran="False", shape="(2, 2)", extra=""):
    return ("{'descr': '%s', 'fortran_order': %s, 'shape': %s, %s}"
            % (descr, fortran, shape, extra))


def floats(values):
    return struct.pack("<%df" % len(values), *values)


VALID = {
    "x": (header(), floats([1, 0, 0, 1])),
    "logits": (header(), floats([1.0986123, 0, 1.0986123, 0])),
    "w13": (header(shape="(2, 2, 2)"), floats([1, 2, 0, 0, 0, 0, 1, 1])),
    "w2": (header(shape="(2, 1, 2)"), floats([1, 0.5, 2, 0])),
}

SHAPES = ["(4611686018427387906, 2)", "(2305843009213693953, 2)",
          "(9223372036854775807, 2)", "(9223372036854775808, 2)",
          "(-1, 2)", "(2.5, 2)", "(2,)", "()", "(2, 2, 1)", "(0, 2)", "(2, 0)",
          "(1, 2)", "(3, 2)", "(2, 3)", "(2 2)", "(2, 2", "[2, 2]",
          "(1e3, 2)", "(0x10, 2)", "(2, -2)", "(2, 4294967298)", "None", "'x'"]
DESCRS = ["<f8", ">f4", "|b1", "<i4", "<i8", "|i1", "<f2", "<U4", "|O",
          "<c8", "f4", "<f", "", "<f4<f4", "'<f4'"]


def mutate(rng):
    """(bytes, description) of one corrupted input, description 'x: ...' or
    'logits: ...'."""
    target = rng.choice(["x", "logits"])
    head, data = VALID[target]
    kind = rng.choice(["shape", "shape", "descr", "fortran", "dup", "missing",
                       "magic", "version", "length", "truncate", "extend",
                       "bytes", "garbage"])
    desc = kind
    if kind == "shape":
        shape = rng.choice(SHAPES)
        out = npy(header(shape=shape), data)
        desc += " " + shape
    elif kind == "descr":
        descr = rng.choice(DESCRS)
        out = npy(header(descr=descr), data)
        desc += " " + descr
    elif kind == "fortran":
        value = rng.choice(["True", "1", "'no'", "None"])
        out = npy(header(fortran=value), data)
        desc += " " + value
    elif kind == "dup":
        extra = rng.choice(["'descr': '<f8', ", "'shape': (4611686018427387906, 2), ",
                            "'shape': (1, 2), ", "'descr': '<i4', "])
        out = npy(header(extra=extra), data)
        desc += " " + extra
    elif kind == "missing":
        key = rng.choice(["descr", "shape", "fortran_order"])
        fields = {"descr": "'descr': '<f4'", "fortran_order": "'fortran_order': False",
                  "shape": "'shape': (2, 2)"}
        del fields[key]
        out = npy("{" + ", ".join(fields.values()) + ", }", data)
        desc += " " + key
    elif kind == "magic":
        out = npy(head, data, magic=rng.choice([b"\x93NUMPX", b"NUMPY\x93", b""]))
    elif kind == "version":
        version = rng.choice([(2, 0), (3, 0), (0, 0), (255, 255)])
        out = npy(head, data, version=version)
        desc += " %d.%d" % version
    elif kind == "length":
        length = rng.choice([0, 1, 118, 119, 65535, 4096])
        out = npy(head, data, length=length)
        desc += " %d" % length
    elif kind == "truncate":
        full = npy(head, data)
        cut = rng.randrange(len(full))
        out = full[:cut]
        desc += " %d" % cut
    elif kind == "extend":
        out = npy(head, data + b"\x00" * rng.choice([1, 4, 16, 4096]))
    elif kind == "bytes":
        buf = bytearray(npy(head, data))
        for _ in range(rng.randint(1, 4)):
            buf[rng.randrange(len(buf))] = rng.randrange(256)
        out = bytes(buf)
    else:
        out = bytes(rng.randrange(256) for _ in range(rng.randrange(200)))
    return out, f"{target}: {desc}"


def prepare(src, out):
    """Writes the valid inputs to OUT/inputs; returns the paths by name and
    the layer's path."""
    folder = os.path.join(out, "inputs")
    os.makedirs(folder, exist_ok=True)
    paths = {"layer": os.path.join(src, LAYER)}
    for name, (head, data) in VALID.items():
        paths[name] = os.path.join(folder, name + ".npy")
        with open(paths[name], "wb") as f:
            f.write(npy(head, data))
    return paths


def command(moe_run, inputs, path, what=""):
    target = what.split(":", 1)[0] if what else "x"
    cmd = [moe_run, inputs["layer"], "--timeout", "20"]
    for name in ("x", "logits", "w13", "w2"):
        cmd += ["--input", f"{name}={path if name == target else inputs[name]}"]
    return cmd
