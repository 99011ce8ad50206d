"""Checks a .pth written by the project (called by tests/test_convert.c, not a fixture generator).

    _check_pth.py FILE.pth expect EXPECT.txt    compare with an expectation file written by the test
    _check_pth.py FILE.pth ref REF.pth [skip]   compare with another .pth (e.g. one torch.save wrote);
                                                skip: ignore keys ending in num_batches_tracked

FILE is loaded with torch.load (weights_only=False, the 1.13 default) and again with
weights_only=True. For a zip file the container is also checked with Python's zipfile: every entry
stored (not compressed), CRCs valid (testzip), every entry's data 64-byte aligned, records
data.pkl / version present. Values are compared bit for bit. Expectation file lines (hex = hex
of UTF-8 / little-endian bytes):
    classes HEX,HEX,...
    tensor NAMEHEX DTYPE DIMS DATAHEX     DTYPE float32|int64, DIMS "2,3" ("-" for a 0-dim tensor),
                                          DATAHEX the float32 values (int64 tensors: their float32 value)
Prints "OK" and exits 0, or prints the first problem and exits 1.
"""
import struct
import sys
import zipfile

import numpy as np
import torch

torch.set_num_threads(1)


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def unwrap(obj):
    classes = None
    if isinstance(obj, dict) and "state_dict" in obj:
        meta = obj.get("meta", {})
        classes = meta.get("CLASSES") if isinstance(meta, dict) else None
        obj = obj["state_dict"]
    return obj, classes


def check_zip(path):
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as z:
        bad = z.testzip()
        if bad is not None:
            fail("CRC error in %s" % bad)
        names = z.namelist()
        prefix = names[0].split("/")[0]
        for want in ("data.pkl", "version"):
            if prefix + "/" + want not in names:
                fail("missing record %s/%s" % (prefix, want))
        if z.read(prefix + "/version") != b"3\n":
            fail("version record is %r" % z.read(prefix + "/version"))
        with open(path, "rb") as f:
            raw = f.read()
        for info in z.infolist():
            if info.compress_type != zipfile.ZIP_STORED:
                fail("%s is compressed" % info.filename)
            off = info.header_offset
            sig, = struct.unpack_from("<I", raw, off)
            if sig != 0x04034B50:
                fail("bad local header for %s" % info.filename)
            nl, xl = struct.unpack_from("<HH", raw, off + 26)
            start = off + 30 + nl + xl
            if start % 64:
                fail("%s data at offset %d is not 64-byte aligned" % (info.filename, start))
    return True


def load_both(path):
    a = torch.load(path, map_location="cpu")
    b = torch.load(path, map_location="cpu", weights_only=True)
    sa, ca = unwrap(a)
    sb, cb = unwrap(b)
    if list(sa.keys()) != list(sb.keys()):
        fail("weights_only=True load differs")
    for k in sa:
        if sa[k].dtype != sb[k].dtype or sa[k].shape != sb[k].shape or bits(sa[k]) != bits(sb[k]):
            fail("weights_only=True load differs at %s" % k)
    if not isinstance(sa, dict):
        fail("state dict is a %s" % type(sa))
    return sa, ca


def bits(t):
    return t.detach().contiguous().numpy().tobytes()


def main():
    path, mode, other = sys.argv[1], sys.argv[2], sys.argv[3]
    skip_nbt = len(sys.argv) > 4 and sys.argv[4] == "skip"
    is_zip = check_zip(path)
    sd, classes = load_both(path)
    if mode == "expect":
        want_classes, want = None, []
        for line in open(other):
            f = line.split()
            if not f:
                continue
            if f[0] == "classes":
                want_classes = tuple(bytes.fromhex(h).decode("utf-8") for h in f[1].split(","))
            else:
                dims = () if f[3] == "-" else tuple(int(d) for d in f[3].split(","))
                data = np.frombuffer(bytes.fromhex(f[4]) if len(f) > 4 else b"", dtype="<f4")
                want.append((bytes.fromhex(f[1]).decode("utf-8"), f[2], dims, data))
        if want_classes is not None and tuple(classes or ()) != want_classes:
            fail("classes %r, expected %r" % (classes, want_classes))
        if want_classes is None and classes is not None:
            fail("unexpected classes %r" % (classes,))
        if list(sd.keys()) != [w[0] for w in want]:
            fail("keys %r, expected %r" % (list(sd.keys())[:8], [w[0] for w in want][:8]))
        for name, dt, dims, data in want:
            t = sd[name]
            if str(t.dtype) != "torch." + dt:
                fail("%s: dtype %s, expected %s" % (name, t.dtype, dt))
            if tuple(t.shape) != dims:
                fail("%s: shape %s, expected %s" % (name, tuple(t.shape), dims))
            if t.requires_grad:
                fail("%s requires grad" % name)
            got = t.to(torch.float32) if dt == "int64" else t
            if dt == "int64" and not torch.equal(t, torch.from_numpy(data.copy()).to(torch.int64).reshape(dims)):
                fail("%s: int64 values differ" % name)
            if bits(got) != data.tobytes():
                fail("%s: values differ (bitwise)" % name)
    else:
        ref, ref_classes = unwrap(torch.load(other, map_location="cpu"))
        keys = [k for k in ref if not (skip_nbt and k.endswith("num_batches_tracked"))]
        got_keys = [k for k in sd if not (skip_nbt and k.endswith("num_batches_tracked"))]
        if got_keys != keys:
            fail("keys %r, expected %r" % (got_keys[:8], keys[:8]))
        if not skip_nbt and tuple(classes or ()) != tuple(ref_classes or ()):
            fail("classes %r, expected %r" % (classes, ref_classes))
        for k in keys:
            a, b = sd[k], ref[k]
            if b.dtype in (torch.float16, torch.bfloat16, torch.float64):
                b = b.to(torch.float32)  # the project stores float32
            if a.dtype != b.dtype or a.shape != b.shape:
                fail("%s: %s %s vs reference %s %s" % (k, a.dtype, tuple(a.shape), b.dtype, tuple(b.shape)))
            if bits(a) != bits(b):
                fail("%s: values differ (bitwise)" % k)
    print("OK%s %d tensors" % (" zip" if is_zip else " legacy", len(sd)))


main()
