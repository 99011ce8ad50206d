"""Writer for the SLFX fixture format read by tests/fixture.c.

Layout (little-endian): b"SLFX", u32 version=1, u32 count, then per entry
u32 name_len, name, u32 dtype (0 f32, 1 f64, 2 i32, 3 i64), u32 ndim, i64 dims, data (C order).
Scripts in tests/ref/ whose name starts with "_" are helpers, not fixture generators.
"""
import os
import struct

import numpy as np

_DTYPES = {np.dtype(np.float32): 0, np.dtype(np.float64): 1,
           np.dtype(np.int32): 2, np.dtype(np.int64): 3}


def _as_array(value):
    try:
        import torch
        if isinstance(value, torch.Tensor):
            value = value.detach().cpu().numpy()
    except ImportError:
        pass
    arr = np.asarray(value)
    if arr.dtype == np.bool_:
        arr = arr.astype(np.int32)
    if arr.dtype not in _DTYPES:
        if np.issubdtype(arr.dtype, np.floating):
            arr = arr.astype(np.float64)
        elif np.issubdtype(arr.dtype, np.integer):
            arr = arr.astype(np.int64)
        else:
            raise TypeError(f"unsupported dtype {arr.dtype}")
    return np.ascontiguousarray(arr)


def write_fixture(path, entries):
    """entries: dict name -> array-like (numpy or torch)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(b"SLFX")
        f.write(struct.pack("<II", 1, len(entries)))
        for name, value in entries.items():
            arr = _as_array(value)
            nb = name.encode()
            f.write(struct.pack("<I", len(nb)))
            f.write(nb)
            f.write(struct.pack("<II", _DTYPES[arr.dtype], arr.ndim))
            for d in arr.shape:
                f.write(struct.pack("<q", d))
            f.write(arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes())
    os.replace(tmp, path)
