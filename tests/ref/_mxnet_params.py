"""Minimal MXNet NDArray-list (.params) writer and reader, written from official-selsa.md §7.

Independent of the project's C loader (src/io/params.c) and of MXNet (not installed here).

File layout (little-endian):
    u64 0x112 (kMXAPINDArrayListMagic), u64 reserved = 0,
    u64 N, N x NDArray record,
    u64 K (0 or N), K x {u64 len, len bytes of name}.
NDArray record V2 (magic 0xF993FAC9), dense only as written here:
    u32 magic, i32 stype (0 = dense), u32 ndim, i64 dims[ndim],
    i32 dev_type, i32 dev_id, i32 type_flag, raw C-order data.
The reader also accepts V1 (0xF993FAC8: no stype), V3 (0xF993FACA: like V2, i32 ndim, -1 = none)
and Legacy (no magic: the first u32 is ndim, then u32 dims) records, dense only.

API:
    write_params(path, entries, version=2, dev_type=1, dev_id=0)
        entries: iterable of (name, array) or a dict (insertion order kept). Arrays must be
        float32/float64/float16/uint8/int32/int8/int64 NumPy arrays (torch tensors accepted).
    read_params(path) -> list of (name, ndarray) in file order (names '' when unnamed).
"""
import struct

import numpy as np

LIST_MAGIC = 0x112
V1_MAGIC = 0xF993FAC8
V2_MAGIC = 0xF993FAC9
V3_MAGIC = 0xF993FACA

# type_flag <-> numpy dtype (§7 table)
_FLAG_TO_DTYPE = {0: np.float32, 1: np.float64, 2: np.float16, 3: np.uint8,
                  4: np.int32, 5: np.int8, 6: np.int64}
_DTYPE_TO_FLAG = {np.dtype(v): k for k, v in _FLAG_TO_DTYPE.items()}


def _np(a):
    try:
        import torch
        if isinstance(a, torch.Tensor):
            a = a.detach().cpu().numpy()
    except ImportError:
        pass
    return np.ascontiguousarray(np.asarray(a))


def _record(arr, version, dev_type, dev_id):
    flag = _DTYPE_TO_FLAG[arr.dtype]
    out = []
    if version == 2:
        out.append(struct.pack("<Ii", V2_MAGIC, 0))
        out.append(struct.pack("<I", arr.ndim))
        out.append(struct.pack("<%dq" % arr.ndim, *arr.shape))
    elif version == 1:
        out.append(struct.pack("<I", V1_MAGIC))
        out.append(struct.pack("<I", arr.ndim))
        out.append(struct.pack("<%dq" % arr.ndim, *arr.shape))
    elif version == 0:  # legacy: u32 ndim, u32 dims
        out.append(struct.pack("<I", arr.ndim))
        out.append(struct.pack("<%dI" % arr.ndim, *arr.shape))
    else:
        raise ValueError("version must be 0 (legacy), 1 or 2")
    out.append(struct.pack("<iii", dev_type, dev_id, flag))
    out.append(arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes())
    return b"".join(out)


def write_params(path, entries, version=2, dev_type=1, dev_id=0, named=True):
    items = list(entries.items()) if isinstance(entries, dict) else list(entries)
    with open(path, "wb") as f:
        f.write(struct.pack("<QQ", LIST_MAGIC, 0))
        f.write(struct.pack("<Q", len(items)))
        for _, a in items:
            arr = _np(a)
            if arr.ndim == 0:
                raise ValueError("0-d arrays cannot be stored (ndim 0 means 'none')")
            f.write(_record(arr, version, dev_type, dev_id))
        if named:
            f.write(struct.pack("<Q", len(items)))
            for name, _ in items:
                nb = name.encode()
                f.write(struct.pack("<Q", len(nb)))
                f.write(nb)
        else:
            f.write(struct.pack("<Q", 0))


class _Reader:
    def __init__(self, buf):
        self.b = buf
        self.p = 0

    def take(self, fmt):
        v = struct.unpack_from("<" + fmt, self.b, self.p)
        self.p += struct.calcsize("<" + fmt)
        return v if len(v) > 1 else v[0]

    def raw(self, n):
        if self.p + n > len(self.b):
            raise ValueError("truncated .params file")
        v = self.b[self.p:self.p + n]
        self.p += n
        return v


def _read_record(r):
    magic = r.take("I")
    if magic in (V2_MAGIC, V3_MAGIC):
        stype = r.take("i")
        if stype != 0:
            raise ValueError("sparse storage type %d not supported" % stype)
        ndim = r.take("i")
        if (magic == V2_MAGIC and ndim == 0) or (magic == V3_MAGIC and ndim == -1):
            return None  # empty "none" array
        if ndim < 0:
            raise ValueError("bad ndim %d" % ndim)
        shape = r.take("%dq" % ndim) if ndim else ()
    elif magic == V1_MAGIC:
        ndim = r.take("I")
        if ndim == 0:
            return None
        shape = r.take("%dq" % ndim)
    else:  # legacy: the word is ndim, dims are u32
        ndim = magic
        if ndim == 0:
            return None
        if ndim > 32:
            raise ValueError("bad record (legacy ndim %d)" % ndim)
        shape = r.take("%dI" % ndim)
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    _dev_type, _dev_id, flag = r.take("iii")
    dt = np.dtype(_FLAG_TO_DTYPE[flag]).newbyteorder("<")
    n = int(np.prod(shape)) if shape else 1
    data = np.frombuffer(r.raw(n * dt.itemsize), dtype=dt).reshape(shape)
    return data.astype(dt.newbyteorder("="))


def read_params(path):
    with open(path, "rb") as f:
        r = _Reader(f.read())
    magic, _res = r.take("QQ")
    if magic != LIST_MAGIC:
        raise ValueError("not an MXNet NDArray list (magic 0x%x)" % magic)
    n = r.take("Q")
    arrays = [_read_record(r) for _ in range(n)]
    k = r.take("Q")
    if k not in (0, n):
        raise ValueError("name count %d != array count %d" % (k, n))
    names = []
    for _ in range(k):
        ln = r.take("Q")
        names.append(r.raw(ln).decode())
    if k == 0:
        names = [""] * n
    if r.p != len(r.b):
        raise ValueError("%d trailing bytes" % (len(r.b) - r.p))
    return list(zip(names, arrays))
