"""Fixtures for tests/test_convert.c: small state dicts written by Debian's torch 1.13 torch.save.

- convert_torch_zip.pth / convert_torch_legacy.pth: mmcv's checkpoint shape
  {"meta": {"CLASSES": (...), "epoch": 3, "config": "..."}, "state_dict": OrderedDict} of a small
  network with prefixed keys ("detector.backbone.conv1.weight", ...): a conv, a BatchNorm that ran
  two training steps (non-trivial running statistics, num_batches_tracked == 2, int64), a linear
  layer, plus a non-ASCII key, written in the zip and the legacy layout.
- convert_torch_plain.pth: a bare OrderedDict state dict (no meta) with a transposed (strided)
  view and an fp16 tensor, to check that conversion densifies strided storages and keeps values.
The C test converts these with `selsa convert` and compares the results through the project's
reader and through torch.load (tests/ref/_check_pth.py).
Usage: gen_convert.py <fixture dir>
"""
import os
import sys
from collections import OrderedDict

import torch
import torch.nn as nn

torch.set_num_threads(1)
OUT = sys.argv[1] if len(sys.argv) > 1 else "build/fixtures"
os.makedirs(OUT, exist_ok=True)
torch.manual_seed(7)


class Backbone(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4, 5)


class Detector(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = Backbone()
        self.cls_head = nn.Linear(5, 3)


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.detector = Detector()


m = Model()
bb = m.detector.backbone
bb.train()
for _ in range(2):  # two steps: running stats move, num_batches_tracked = 2
    bb.bn1(bb.conv1(torch.randn(2, 3, 6, 6)))
sd = m.state_dict()
sd["detector.caf\u00e9_scale"] = torch.tensor([1.5, -0.0, 3.25e-39])  # non-ASCII key, -0 and a subnormal
assert sd["detector.backbone.bn1.num_batches_tracked"].dtype == torch.int64
ckpt = {"meta": {"CLASSES": ("airplane", "antelope", "bear"), "epoch": 3, "config": "model = dict()"},
        "state_dict": sd}
torch.save(ckpt, os.path.join(OUT, "convert_torch_zip.pth"))
torch.save(ckpt, os.path.join(OUT, "convert_torch_legacy.pth"), _use_new_zipfile_serialization=False)

plain = OrderedDict()
plain["w_t"] = torch.arange(12, dtype=torch.float32).reshape(3, 4).t()  # strided view (4, 3)
plain["h"] = torch.tensor([0.5, 65504.0, -2.0], dtype=torch.float16)
plain["b"] = torch.randn(7)
torch.save(plain, os.path.join(OUT, "convert_torch_plain.pth"))
