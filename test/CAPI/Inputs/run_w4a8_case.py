"""Runs a w4a8 conformance case (scripts/reference/make_case.py: routed
experts as checkpoint tensors processed by moe.prepare_weights) through the
C API from Python's ctypes, twice per rank on one world, then a third time
with a second case's tensors (other weights: the load-time processing must
run again), and compares every rank's output with the independent reference
of the case it ran (run_case.compare).
The shared experts' i4 weights go in as packed int4 buffers (MOE_DTYPE_I4,
two values per byte, element 2i in the low nibble).
With SCHEME (an int8 / fp8 scheme of make_case.py) the case is that
scheme's instead, its fp8 weights passed as MOE_DTYPE_F8E4M3FN /
MOE_DTYPE_F8E5M2 buffers of bit patterns; the run then also passes the
fp8 weight as an i8 buffer and prints the C API's error. For an fp4
scheme (mxfp4 / nvfp4) the packed weights go in as MOE_DTYPE_I8 buffers
of [L, K / 2, N] bytes (two e2m1 per byte along K, low nibble first), the
e8m0 scales as MOE_DTYPE_I8 bytes and the e4m3 scales as
MOE_DTYPE_F8E4M3FN bit patterns; the error run passes w13 unpacked (one
e2m1 code per byte, [L, K, N]).
Usage: run_w4a8_case.py LIB SRC_ROOT WORK_DIR [SCHEME]
"""
import ctypes as C
import json
import os
import sys
import threading

import numpy as np

sys.path.insert(0, os.path.join(sys.argv[2], "scripts", "reference"))
import make_case  # noqa: E402
import run_case  # noqa: E402
from dense_moe import pack_int4  # noqa: E402

MAX_RANK = 8
DTYPES = {"f32": 0, "i8": 3, "i4": 4, "i32": 5, "f8E4M3FN": 8, "f8E5M2": 9}


class Buffer(C.Structure):
    _fields_ = [("data", C.c_void_p), ("capacity", C.c_size_t),
                ("dtype", C.c_int32), ("rank", C.c_int32),
                ("shape", C.c_int64 * MAX_RANK), ("owner", C.c_void_p)]


def buffer(array, element, keep):
    b = Buffer()
    data = np.ascontiguousarray(pack_int4(array) if element == "i4" else array)
    keep.append(data)
    b.data, b.capacity = data.ctypes.data, data.nbytes
    b.dtype, b.rank = DTYPES[element], array.ndim
    for i, d in enumerate(array.shape):
        b.shape[i] = d
    return b


SCHEME = sys.argv[4] if len(sys.argv) > 4 else None
if SCHEME:
    spec = make_case.CaseSpec(**{**make_case.PRESETS["qwen"], "world": 2,
                                 "quant": SCHEME, "group_size": 16,
                                 "tokens": [9, 4], "seed": 23})
else:
    spec = make_case.CaseSpec(**{**make_case.PRESETS["deepseek"], "world": 2,
                                 "quant": "w4a8", "group_size": 16,
                                 "tokens": [11, 6], "seed": 21})
case_dir = os.path.join(sys.argv[3], "case")
case = make_case.generate(spec, case_dir)
# Same shapes, other weights and tokens.
spec2 = make_case.CaseSpec(**{**spec.__dict__, "seed": 22})
case2_dir = os.path.join(sys.argv[3], "case2")
case2 = make_case.generate(spec2, case2_dir)

lib = C.CDLL(sys.argv[1])
lib.moeGetLastError.restype = C.c_char_p
compiler, exe, world = C.c_void_p(), C.c_void_p(), C.c_void_p()
assert lib.moeCompilerCreate(C.byref(compiler)) == 0
source = open(os.path.join(case_dir, "layer.mlir"), "rb").read()
status = lib.moeCompilerCompileSource(compiler, source, C.c_size_t(len(source)),
                                      None, C.byref(exe))
print("compile:", status, lib.moeGetLastError().decode())
assert lib.moeWorldCreate(exe, C.c_int64(spec.world), None, C.byref(world)) == 0

results = {}


def inputs(c, c_dir, r, keep):
    return [buffer(np.load(os.path.join(c_dir, a["path"].format(rank=r))),
                   a["type"][:-1].split("x")[-1], keep) for a in c["inputs"]]


def run(r):
    keep = []
    ins, ins2 = inputs(case, case_dir, r, keep), inputs(case2, case2_dir, r, keep)
    outs = []
    # Two steps on the same world and weights, then one with case2's.
    for step in range(3):
        args = (Buffer * len(ins))(*(ins if step < 2 else ins2))
        out = (Buffer * 1)(Buffer())
        status = lib.moeExecutableRun(exe, world, C.c_int64(r), args,
                                      C.c_int64(len(ins)), out, C.c_int64(1))
        shape = tuple(out[0].shape[:out[0].rank])
        got = (np.ctypeslib.as_array(C.cast(out[0].data, C.POINTER(C.c_float)),
                                     shape=shape).copy()
               if status == 0 else None)
        outs.append((status, lib.moeGetLastError().decode(), got))
        lib.moeBufferRelease(C.byref(out[0]))
    results[r] = outs


threads = [threading.Thread(target=run, args=(r,)) for r in range(spec.world)]
for t in threads:
    t.start()
for t in threads:
    t.join()
for r in range(spec.world):
    for i, (status, error, got) in enumerate(results[r]):
        c, c_dir = (case, case_dir) if i < 2 else (case2, case2_dir)
        ref = np.load(os.path.join(c_dir, c["expected"].format(rank=r)))
        step = np.load(os.path.join(c_dir, c["step"].format(rank=r)))
        ok, text = (run_case.compare(got, ref, step) if status == 0
                    else (False, error))
        print("rank %d step %d: status %d %s %s" % (
            r, i, status, text, "matches" if ok else "MISMATCH"))
if SCHEME:
    # The fp8 weight declared as i8, or the fp4 weight unpacked: the C API
    # names the mismatch.
    fp4 = SCHEME.startswith(("mxfp4", "nvfp4"))
    keep, ins = [], []
    for a in case["inputs"]:
        array = np.load(os.path.join(case_dir, a["path"].format(rank=0)))
        element = a["type"][:-1].split("x")[-1]
        if a["name"] == "w13" and fp4:
            array = np.repeat(array & 0xF, 2, axis=1)
        ins.append(buffer(array, "i8" if a["name"] == "w13" else element, keep))
    out = (Buffer * 1)(Buffer())
    status = lib.moeExecutableRun(exe, world, C.c_int64(0),
                                  (Buffer * len(ins))(*ins),
                                  C.c_int64(len(ins)), out, C.c_int64(1))
    print("%s: status %d %s" % ("unpacked fp4" if fp4 else "i8 for fp8", status,
                                lib.moeGetLastError().decode()))
lib.moeWorldDestroy(world)
lib.moeExecutableDestroy(exe)
lib.moeCompilerDestroy(compiler)
