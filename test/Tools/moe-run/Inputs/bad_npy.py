"""Writes crafted .npy files to DIR (test/Tools/moe-run/npy.test).

Each file has a valid magic and version 1.0; the header dict and the data
are what the name says. The good file holds the f32 matrix [[1, 0], [0, 1]]
so a run with it succeeds.
"""
import struct
import sys

out = sys.argv[1]


def npy(name, header, data):
    header = header.encode("latin1")
    pad = (64 - (10 + len(header) + 1) % 64) % 64
    header += b" " * pad + b"\n"
    with open(f"{out}/{name}.npy", "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header)
        f.write(data)


eye = struct.pack("<4f", 1, 0, 0, 1)  # 16 bytes
good = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }"
npy("good", good, eye)
# (2^62 + 2) x 2 f32: the byte count wraps to 16 in 64 bits.
npy("wraps", "{'descr': '<f4', 'fortran_order': False, "
    "'shape': (4611686018427387906, 2), }", eye)
# A dimension beyond int64.
npy("too_long", "{'descr': '<f4', 'fortran_order': False, "
    "'shape': (99999999999999999999, 2), }", eye)
# A plausible size, but the file is far too short: refused before allocating.
npy("short", "{'descr': '<f4', 'fortran_order': False, "
    "'shape': (1000000000, 2), }", eye)
# Not integers.
npy("fraction", "{'descr': '<f4', 'fortran_order': False, 'shape': (2.5, 2), }",
    eye)
npy("negative", "{'descr': '<f4', 'fortran_order': False, 'shape': (-2, 2), }",
    eye)
npy("no_comma", "{'descr': '<f4', 'fortran_order': False, 'shape': (4), }", eye)
# Keys given twice, unknown or missing.
npy("twice", "{'descr': '<f4', 'descr': '<i4', 'fortran_order': False, "
    "'shape': (2, 2), }", eye)
npy("unknown_key", "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), "
    "'order': 'C', }", eye)
npy("no_shape", "{'descr': '<f4', 'fortran_order': False, }", eye)
# A structured dtype; text after the dict; an unterminated dict.
npy("structured", "{'descr': [('a', '<f4')], 'fortran_order': False, "
    "'shape': (2, 2), }", eye)
npy("trailing", good + " x", eye)
npy("unterminated", "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2)",
    eye)
