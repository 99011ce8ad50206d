"""Weight-file fixtures for tests/test_weights.c.

- MXNet .params files written by an independent writer coded from official-selsa.md §7
  (V2 records of every dtype + the `*_test` keys, V1, legacy, V3, unnamed list, sparse record).
- PyTorch .pth files written by Debian's torch 1.13 `torch.save` in both layouts
  (`_use_new_zipfile_serialization=True/False`): the full SELSA-R50 key list of
  ../shared/spec/mmtracking-selsa-keys-r50.txt with small shapes inside {"meta", "state_dict"},
  a bare state dict with f16/bf16/f64/i64/i32/i16/i8/u8/bool tensors, a transposed view, two views
  sharing one storage at different offsets, a stride-0 expand, a scalar and a Parameter, and a
  {"model": ...} checkpoint.
- weights_expect.slfx: the expected float32 values, keyed "<tag>|<name>" (+ "<tag>|__count").
Usage: gen_weights.py <fixture dir>
"""
import os
import struct
import sys
from collections import OrderedDict

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _fixture_io import write_fixture  # noqa: E402

torch.set_num_threads(1)
OUT = sys.argv[1] if len(sys.argv) > 1 else "build/fixtures"
os.makedirs(OUT, exist_ok=True)
rng = np.random.default_rng(1234)
expect = OrderedDict()

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KEYS_FILE = os.path.join(REPO, "..", "shared", "spec", "mmtracking-selsa-keys-r50.txt")

# ------------------------------------------------------------------ MXNet writer (spec §7)
V1, V2, V3 = 0xF993FAC8, 0xF993FAC9, 0xF993FACA
TYPE_FLAG = {"f32": 0, "f64": 1, "f16": 2, "u8": 3, "i32": 4, "i8": 5, "i64": 6, "bool": 7,
             "i16": 8, "u16": 9, "u32": 10, "u64": 11, "bf16": 12}
NP = {"f32": "<f4", "f64": "<f8", "f16": "<f2", "u8": "u1", "i32": "<i4", "i8": "i1", "i64": "<i8",
      "bool": "?", "i16": "<i2", "u16": "<u2", "u32": "<u4", "u64": "<u8"}


def raw_and_expected(arr, dt):
    """Bytes of `arr` stored as dtype `dt` and the float32 values a reader must produce."""
    if dt == "bf16":
        bits = (np.asarray(arr, np.float32).view(np.uint32) >> 16).astype("<u2")
        return bits.tobytes(), (bits.astype(np.uint32) << 16).view(np.float32)
    a = np.asarray(arr).astype(NP[dt])
    return a.tobytes(), a.astype(np.float32)


def rec_v2(arr, dt, magic=V2):
    raw, exp = raw_and_expected(arr, dt)
    shape = np.shape(arr)
    b = struct.pack("<Ii", magic, 0) + struct.pack("<i", len(shape)) + struct.pack("<%dq" % len(shape), *shape)
    b += struct.pack("<iii", 1, 0, TYPE_FLAG[dt]) + raw
    return b, exp


def rec_none_v2():
    return struct.pack("<IiI", V2, 0, 0)


def rec_v1(arr, dt):
    raw, exp = raw_and_expected(arr, dt)
    shape = np.shape(arr)
    return struct.pack("<II", V1, len(shape)) + struct.pack("<%dq" % len(shape), *shape) + \
        struct.pack("<iii", 1, 0, TYPE_FLAG[dt]) + raw, exp


def rec_legacy(arr, dt):
    raw, exp = raw_and_expected(arr, dt)
    shape = np.shape(arr)
    return struct.pack("<I", len(shape)) + struct.pack("<%dI" % len(shape), *shape) + \
        struct.pack("<iii", 1, 0, TYPE_FLAG[dt]) + raw, exp


def rec_row_sparse(values, indices):
    """V2 row_sparse record: stype 1, storage shape, shape, ctx, type, aux type+shape, data, aux."""
    nrow = int(indices.max()) + 3
    sshape = values.shape
    shape = (nrow,) + values.shape[1:]
    b = struct.pack("<Ii", V2, 1)
    b += struct.pack("<I", len(sshape)) + struct.pack("<%dq" % len(sshape), *sshape)
    b += struct.pack("<I", len(shape)) + struct.pack("<%dq" % len(shape), *shape)
    b += struct.pack("<iii", 1, 0, 0)
    b += struct.pack("<i", 6) + struct.pack("<I", 1) + struct.pack("<q", len(indices))
    b += values.astype("<f4").tobytes() + indices.astype("<i8").tobytes()
    return b


def write_params(path, records, names):
    with open(path, "wb") as f:
        f.write(struct.pack("<QQQ", 0x112, 0, len(records)))
        for r in records:
            f.write(r)
        f.write(struct.pack("<Q", len(names)))
        for n in names:
            nb = n.encode()
            f.write(struct.pack("<Q", len(nb)) + nb)


def bare(n):
    return n[4:] if n.startswith(("arg:", "aux:")) else n


def params_files():
    # V2, several dtypes, the *_test keys (official-selsa.md §6.3) and an empty "none" array.
    entries = [
        ("arg:conv1_weight", rng.standard_normal((4, 3, 3, 3)), "f32"),
        ("arg:bn_conv1_gamma", rng.standard_normal(4), "f32"),
        ("aux:bn_conv1_moving_var", rng.uniform(0.5, 2, 4), "f32"),
        ("arg:bbox_pred_weight", rng.standard_normal((8, 16)), "f32"),
        ("arg:bbox_pred_bias", rng.standard_normal(8), "f32"),
        ("arg:bbox_pred_weight_test", rng.standard_normal((8, 16)), "f32"),
        ("arg:bbox_pred_bias_test", rng.standard_normal(8), "f32"),
        ("arg:t_f64", rng.standard_normal((2, 3)), "f64"),
        ("arg:t_f16", rng.standard_normal(5) * 100, "f16"),
        ("arg:t_u8", rng.integers(0, 256, (3, 2)), "u8"),
        ("arg:t_i32", rng.integers(-2**31, 2**31, 4), "i32"),
        ("arg:t_i8", rng.integers(-128, 128, 4), "i8"),
        ("arg:t_i64", np.array([1, -5, 2**40 + 3]), "i64"),
        ("arg:t_bool", np.array([True, False, True, True]), "bool"),
        ("arg:t_i16", rng.integers(-30000, 30000, 3), "i16"),
        ("arg:t_u16", rng.integers(0, 65536, 3), "u16"),
        ("arg:t_u32", rng.integers(0, 2**32, 3, dtype=np.uint64), "u32"),
        ("arg:t_u64", np.array([7, 2**50], np.uint64), "u64"),
        ("arg:t_bf16", rng.standard_normal(6), "bf16"),
        ("arg:t_5d", rng.standard_normal((2, 1, 2, 1, 3)), "f32"),
    ]
    recs, names = [], []
    for n, a, dt in entries:
        r, e = rec_v2(a, dt)
        recs.append(r)
        names.append(n)
        expect["v2|" + bare(n)] = e.reshape(np.shape(a))
    recs.append(rec_none_v2())
    names.append("arg:t_none")
    expect["v2|__count"] = np.int64(len(recs))
    write_params(os.path.join(OUT, "weights_v2.params"), recs, names)

    # V1 and legacy records mixed in one file, plus V3 (scalar = ndim 0, unknown = ndim -1)
    recs, names = [], []
    for i, (maker, shape, dt) in enumerate([(rec_v1, (3, 4), "f32"), (rec_legacy, (2, 2, 2), "f32"),
                                            (rec_v1, (5,), "f16"), (rec_legacy, (6,), "i32")]):
        a = rng.standard_normal(shape) * (100 if dt == "i32" else 1)
        r, e = maker(a, dt)
        recs.append(r)
        names.append("arg:old_%d" % i)
        expect["old|old_%d" % i] = e.reshape(shape)
    expect["old|__count"] = np.int64(len(recs))
    write_params(os.path.join(OUT, "weights_v1_legacy.params"), recs, names)

    a = rng.standard_normal((2, 3))
    r1, e1 = rec_v2(a, "f32", magic=V3)
    r2, e2 = rec_v2(np.float32(2.5), "f32", magic=V3)  # shape () -> ndim 0 scalar
    r3 = struct.pack("<Iii", V3, 0, -1)                   # unknown shape -> empty
    write_params(os.path.join(OUT, "weights_v3.params"), [r1, r2, r3], ["arg:m", "aux:s", "arg:e"])
    expect["v3|m"] = e1.reshape(2, 3)
    expect["v3|s"] = np.float32(2.5)
    expect["v3|__count"] = np.int64(3)

    # unnamed list
    a, b = rng.standard_normal(3), rng.standard_normal((2, 2))
    ra, ea = rec_v2(a, "f32")
    rb, eb = rec_v2(b, "f64")
    write_params(os.path.join(OUT, "weights_unnamed.params"), [ra, rb], [])
    expect["unnamed|0"] = ea.reshape(3)
    expect["unnamed|1"] = eb.reshape(2, 2)
    expect["unnamed|__count"] = np.int64(2)

    # sparse record (must be rejected)
    r0, _ = rec_v2(rng.standard_normal(3), "f32")
    rs = rec_row_sparse(rng.standard_normal((2, 4)).astype(np.float32), np.array([1, 4]))
    write_params(os.path.join(OUT, "weights_sparse.params"), [r0, rs], ["arg:dense", "arg:sparse"])


# ------------------------------------------------------------------ PyTorch files
VID_CLASSES = ("airplane", "antelope", "bear", "bicycle", "bird", "bus", "car", "cattle", "dog",
               "domestic_cat", "elephant", "fox", "giant_panda", "hamster", "horse", "lion", "lizard",
               "monkey", "motorcycle", "rabbit", "red_panda", "sheep", "snake", "squirrel", "tiger",
               "train", "turtle", "watercraft", "whale", "zebra")


def r50_keys():
    keys = []
    with open(KEYS_FILE) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            name, rest = line.split(" ", 1)
            shape_s, dt = rest.rsplit(" ", 1)
            shape = [int(x) for x in shape_s.strip("[] \n").split(",") if x.strip()]
            keys.append((name, shape, dt.strip()))
    return keys


def save_both(tag, obj, expected):
    for layout, zipped in (("zip", True), ("legacy", False)):
        torch.save(obj, os.path.join(OUT, "weights_%s_%s.pth" % (tag, layout)),
                   _use_new_zipfile_serialization=zipped)
    for k, v in expected.items():
        expect[tag + "|" + k] = v
    expect[tag + "|__count"] = np.int64(len(expected))


def pth_files():
    # Full R50 key list (exact names, file order), each dim capped at 2 to stay small.
    sd = OrderedDict()
    exp = OrderedDict()
    for name, shape, dt in r50_keys():
        small = [min(d, 2) for d in shape]
        if dt == "int64":
            t = torch.tensor(int(rng.integers(0, 10**6)), dtype=torch.int64)
        else:
            t = torch.from_numpy(rng.standard_normal(small).astype(np.float32))
        sd[name] = t
        exp[name] = t.float().numpy()
    meta_md = OrderedDict()
    meta_md["detector"] = {"version": 1}
    meta_md["detector.backbone.bn1"] = {"version": 2}
    sd._metadata = meta_md
    ckpt = {"meta": {"env_info": "sys.platform: linux", "seed": None, "mmtrack_version": "0.5.0",
                     "config": "model = dict(type='SELSA')\n" * 20, "CLASSES": VID_CLASSES,
                     "epoch": 7, "iter": 12345, "time": "Sun Dec 27 20:48:35 2020",
                     "lr": 0.0001, "np_scalar": np.float64(0.25), "flag": True,
                     "big": 2**70, "neg": -3, "blob": b"\x00\x01binary"},
            "state_dict": sd}
    save_both("r50", ckpt, exp)

    # Bare state dict: dtypes, views, shared storage, broadcast, scalar, Parameter.
    sd = OrderedDict()
    exp = OrderedDict()
    base = torch.from_numpy(rng.standard_normal((3, 5)).astype(np.float32))
    sd["f32"] = base
    sd["f16"] = torch.from_numpy(rng.standard_normal((2, 3)).astype(np.float16))
    sd["bf16"] = torch.from_numpy(rng.standard_normal(7).astype(np.float32)).to(torch.bfloat16)
    sd["f64"] = torch.from_numpy(rng.standard_normal((2, 2)))
    sd["i64"] = torch.tensor([3, -7, 2**40 + 1], dtype=torch.int64)
    sd["i32"] = torch.tensor([[5, -6], [70000, 0]], dtype=torch.int32)
    sd["i16"] = torch.tensor([-300, 300], dtype=torch.int16)
    sd["i8"] = torch.tensor([-128, 127, 0], dtype=torch.int8)
    sd["u8"] = torch.tensor([0, 255, 17], dtype=torch.uint8)
    sd["bool"] = torch.tensor([True, False, True])
    sd["transposed"] = base.t()                      # non-contiguous view of f32's storage
    flat = torch.arange(40, dtype=torch.float32)
    sd["shared_a"] = flat[2:8]                       # storage offset 2
    sd["shared_b"] = flat[10:30].view(4, 5)[:, 1:4]  # offset 11, strides (5, 1), non-contiguous
    sd["expanded"] = torch.tensor([1.5, -2.0]).expand(3, 2)  # stride 0
    sd["scalar"] = torch.tensor(4.25)
    sd["param"] = torch.nn.Parameter(torch.from_numpy(rng.standard_normal((2, 3)).astype(np.float32)))
    sd["empty"] = torch.zeros(0, 3)
    sd["six_d"] = torch.from_numpy(rng.standard_normal((1, 2, 1, 2, 1, 2)).astype(np.float32))
    for k, v in sd.items():
        exp[k] = v.detach().float().numpy()
    save_both("dtypes", sd, exp)

    # {"model": state_dict}
    sd = OrderedDict([("backbone.w", torch.ones(2, 2)), ("backbone.b", torch.arange(3.0))])
    save_both("model", {"model": sd, "optimizer": {"state": {}}},
              OrderedDict((k, v.numpy()) for k, v in sd.items()))

    # A whole pickled module (not a dict) must be refused with a helpful message.
    torch.save(torch.nn.Linear(2, 2), os.path.join(OUT, "weights_module_zip.pth"))


params_files()
pth_files()
write_fixture(os.path.join(OUT, "weights_expect.slfx"), expect)
print("gen_weights: %d expected entries" % len(expect))
