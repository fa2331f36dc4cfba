"""Drives libMoeCAPI.so from Python through ctypes (dlopen with RTLD_LOCAL):
compiles a two-rank layer, runs each rank on a Python thread (ctypes drops
the GIL during calls) and compares with NumPy. Usage: run_ctypes.py LIB LAYER
"""
import ctypes as C
import json
import sys
import threading

import numpy as np

MAX_RANK = 8


class Buffer(C.Structure):
    _fields_ = [("data", C.c_void_p), ("capacity", C.c_size_t),
                ("dtype", C.c_int32), ("rank", C.c_int32),
                ("shape", C.c_int64 * MAX_RANK), ("owner", C.c_void_p)]


def buffer(array=None):
    b = Buffer()
    if array is not None:
        b.data, b.capacity = array.ctypes.data, array.nbytes
        b.dtype, b.rank = 0, array.ndim  # MOE_DTYPE_F32
        for i, d in enumerate(array.shape):
            b.shape[i] = d
    return b


lib = C.CDLL(sys.argv[1])
lib.moeGetLastError.restype = C.c_char_p
lib.moeGetApiVersion.restype = C.c_uint32
print("api version %#x" % lib.moeGetApiVersion())

compiler, exe, world = C.c_void_p(), C.c_void_p(), C.c_void_p()
assert lib.moeCompilerCreate(C.byref(compiler)) == 0
source = open(sys.argv[2], "rb").read()
status = lib.moeCompilerCompileSource(compiler, source, C.c_size_t(len(source)),
                                      None, C.byref(exe))
print("compile:", status, lib.moeGetLastError().decode())
# What the compiler decided, as JSON (moeExecutableGetDecisionsJson).
lib.moeExecutableGetDecisionsJson.restype = C.c_char_p
decisions = json.loads(lib.moeExecutableGetDecisionsJson(exe))
print("decision: %s at %s: %s" % (decisions[0]["method"],
                                  decisions[0]["location"],
                                  decisions[0]["reason"]))
print("candidates:", [(c["method"], c["up_to_tokens"])
                      for c in decisions[0]["candidates"]])
assert lib.moeWorldCreate(exe, C.c_int64(2), None, C.byref(world)) == 0

H, I, E, L = 8, 4, 4, 2  # hidden, intermediate, experts, experts per rank
rng = np.random.default_rng(0)
tokens = [5, 3]
x = [rng.uniform(-1, 1, (t, H)).astype(np.float32) for t in tokens]
logits = [rng.uniform(-1, 1, (t, E)).astype(np.float32) for t in tokens]
w13 = [rng.uniform(-.5, .5, (L, H, 2 * I)).astype(np.float32) for _ in range(2)]
w2 = [rng.uniform(-.5, .5, (L, I, H)).astype(np.float32) for _ in range(2)]


def dense(r):
    out = np.zeros((tokens[r], H))
    for t in range(tokens[r]):
        p = np.exp(logits[r][t] - logits[r][t].max())
        top = np.argsort(-p, kind="stable")[:2]
        for e in top:
            h = x[r][t] @ w13[e // L][e % L]
            act = h[:I] / (1 + np.exp(-h[:I])) * h[I:]
            out[t] += p[e] / p[top].sum() * (act @ w2[e // L][e % L])
    return out


results = {}


def run(r):
    ins = (Buffer * 4)(buffer(x[r]), buffer(logits[r]), buffer(w13[r]),
                       buffer(w2[r]))
    out = (Buffer * 1)(buffer())  # runtime-owned
    status = lib.moeExecutableRun(exe, world, C.c_int64(r), ins, C.c_int64(4),
                                  out, C.c_int64(1))
    shape = tuple(out[0].shape[:out[0].rank])
    got = np.ctypeslib.as_array(C.cast(out[0].data, C.POINTER(C.c_float)),
                                shape=shape).copy() if status == 0 else None
    results[r] = (status, lib.moeGetLastError().decode(), got)
    lib.moeBufferRelease(C.byref(out[0]))


threads = [threading.Thread(target=run, args=(r,)) for r in range(2)]
for t in threads:
    t.start()
for t in threads:
    t.join()
for r in range(2):
    status, error, got = results[r]
    ok = status == 0 and np.allclose(got, dense(r), atol=1e-5)
    print("rank %d: status %d %s %s" % (r, status, error,
                                        "matches" if ok else "MISMATCH"))
lib.moeWorldDestroy(world)
lib.moeExecutableDestroy(exe)
lib.moeCompilerDestroy(compiler)
