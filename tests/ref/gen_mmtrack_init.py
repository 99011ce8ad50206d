"""ImageNet-style backbone state dicts for tests/test_mmtrack_init.c.

The networks are built from torchvision's own modules (torchvision.models.resnet.Bottleneck,
conv1x1, nn.BatchNorm2d, nn.Linear) wired exactly as torchvision.models.resnet.ResNet wires them
(conv1 7x7/2, bn1, relu, maxpool, layer1..4, avgpool, fc), so the state-dict keys and shapes are
the torchvision ones. torchvision's ResNet class itself cannot be used: it hard-codes a 64-channel
stem and planes 64/128/256/512, and the tiny CI architecture (selsa_mmtrack_config_tiny: one
Bottleneck per stage, stem/base planes 8; tiny-x: groups 4, base_width 32) is smaller. Every
parameter and buffer gets random values (BN running_var positive, num_batches_tracked a random
int64) so that a bit-exact copy can be told from a fresh initialisation.

Files (torch.save, zip layout):
  mmtrack_init_tv_tiny.pth        bare OrderedDict, torchvision keys (conv1.weight, ..., fc.bias)
  mmtrack_init_tv_tiny_module.pth the same tensors with a 'module.' prefix (DataParallel)
  mmtrack_init_tv_tinyx_sd.pth    ResNeXt tiny-x, {'state_dict': {'backbone.' + key}} (mmcv style)
  mmtrack_init_tv_tiny_old.pth    the tiny dict without num_batches_tracked (old torchvision files)
  mmtrack_init_torch_stats.slfx   reference initialisation: the tiny / tiny-x SELSA module tree of
      _mmtrack_ref.py (exact state-dict keys) initialised with torch.nn.init exactly as mmdet 2.x /
      mmcv 1.x init_weights() does (see mmdet_init below), and per tensor "<tag>|<key>" the
      float64 [numel, mean, std, min, max] of the values torch drew, for the C test to compare its
      own sample statistics with (the torch functions own the fan / gain / bound formulas).
Usage: gen_mmtrack_init.py <fixture dir>
"""
import os
import sys
from collections import OrderedDict

import torch
import torch.nn as nn
from torchvision.models.resnet import Bottleneck, conv1x1

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _fixture_io import write_fixture  # noqa: E402
from _mmtrack_ref import SELSA  # noqa: E402

torch.set_num_threads(1)
OUT = sys.argv[1] if len(sys.argv) > 1 else "build/fixtures"
os.makedirs(OUT, exist_ok=True)


class TinyTorchvisionResNet(nn.Module):
    """torchvision.models.resnet.ResNet with a configurable stem width (base) and blocks."""

    def __init__(self, blocks, base, groups=1, width_per_group=64, num_classes=1000):
        super().__init__()
        self.groups = groups
        self.base_width = width_per_group
        self.inplanes = base
        self.dilation = 1
        self.conv1 = nn.Conv2d(3, base, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(base)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(base, blocks[0])
        self.layer2 = self._make_layer(base * 2, blocks[1], stride=2)
        self.layer3 = self._make_layer(base * 4, blocks[2], stride=2)
        self.layer4 = self._make_layer(base * 8, blocks[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(base * 8 * Bottleneck.expansion, num_classes)

    def _make_layer(self, planes, n, stride=1):
        # torchvision ResNet._make_layer (dilate=False)
        downsample = None
        if stride != 1 or self.inplanes != planes * Bottleneck.expansion:
            downsample = nn.Sequential(conv1x1(self.inplanes, planes * Bottleneck.expansion, stride),
                                       nn.BatchNorm2d(planes * Bottleneck.expansion))
        layers = [Bottleneck(self.inplanes, planes, stride, downsample, self.groups, self.base_width)]
        self.inplanes = planes * Bottleneck.expansion
        for _ in range(1, n):
            layers.append(Bottleneck(self.inplanes, planes, groups=self.groups, base_width=self.base_width))
        return nn.Sequential(*layers)


def randomised(net, seed):
    g = torch.Generator().manual_seed(seed)
    sd = OrderedDict()
    for k, v in net.state_dict().items():
        if k.endswith("num_batches_tracked"):
            sd[k] = torch.randint(1, 100000, (), generator=g, dtype=torch.int64)
        elif k.endswith("running_var") or (v.dim() == 1 and k.endswith(".weight")):
            sd[k] = torch.rand(v.shape, generator=g) + 0.5  # BN var / gamma in [0.5, 1.5)
        elif v.dim() == 4:  # convs: He-like scale keeps the activations O(1)
            sd[k] = torch.randn(v.shape, generator=g) * (2.0 / v[0].numel()) ** 0.5
        else:  # BN bias / running_mean, fc
            sd[k] = torch.randn(v.shape, generator=g) * 0.1
    return sd


# selsa_mmtrack_config_tiny: blocks {1,1,1,1}, base_planes 8; fc of a 1000-class ImageNet model
tiny = randomised(TinyTorchvisionResNet([1, 1, 1, 1], 8), 11)
# tiny-x: groups 4, base_width 32 -> torchvision width int(planes * 32/64) * 4 = 2 * planes,
# equal to mmdet ResNeXt's floor(planes * base_width / 64) * groups
tinyx = randomised(TinyTorchvisionResNet([1, 1, 1, 1], 8, groups=4, width_per_group=32), 12)
assert tinyx["layer1.0.conv2.weight"].shape == (16, 4, 3, 3)

torch.save(tiny, os.path.join(OUT, "mmtrack_init_tv_tiny.pth"))
torch.save(OrderedDict(("module." + k, v) for k, v in tiny.items()),
           os.path.join(OUT, "mmtrack_init_tv_tiny_module.pth"))
torch.save({"state_dict": OrderedDict(("backbone." + k, v) for k, v in tinyx.items())},
           os.path.join(OUT, "mmtrack_init_tv_tinyx_sd.pth"))
torch.save(OrderedDict((k, v) for k, v in tiny.items() if not k.endswith("num_batches_tracked")),
           os.path.join(OUT, "mmtrack_init_tv_tiny_old.pth"))
print(f"  mmtrack_init: {len(tiny)} torchvision-layout tensors (tiny), {len(tinyx)} (tiny-x)")


def mmdet_init(model):
    """model.init_weights() of a fresh mmtracking SELSA (mmdet 2.x / mmcv 1.x), no pretrained:
    ResNet init_cfg [Kaiming(Conv2d), Constant(1, _BatchNorm)] (mmcv KaimingInit defaults: a=0,
    mode fan_out, relu, normal; mmdet's zero_init_residual norm3 override is NOT applied, as the
    C initialiser documents); ChannelMapper Xavier(Conv2d, uniform); RPNHead Normal(Conv2d,
    std 0.01); BBoxHead Normal(fc_cls, 0.01), Normal(fc_reg, 0.001), ConvFCBBoxHead
    Xavier(uniform, shared_fcs); SelsaAggregator: nothing (nn.Linear's own reset_parameters).
    Every initialiser's bias is 0."""
    d = model.detector
    with torch.no_grad():
        for m in d.backbone.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, a=0, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
        for conv in [d.neck.convs[0].conv]:
            nn.init.xavier_uniform_(conv.weight, gain=1)
            nn.init.constant_(conv.bias, 0)
        for conv in [d.rpn_head.rpn_conv, d.rpn_head.rpn_cls, d.rpn_head.rpn_reg]:
            nn.init.normal_(conv.weight, 0, 0.01)
            nn.init.constant_(conv.bias, 0)
        h = d.roi_head.bbox_head
        nn.init.normal_(h.fc_cls.weight, 0, 0.01)
        nn.init.constant_(h.fc_cls.bias, 0)
        nn.init.normal_(h.fc_reg.weight, 0, 0.001)
        nn.init.constant_(h.fc_reg.bias, 0)
        for fc in h.shared_fcs:
            nn.init.xavier_uniform_(fc.weight, gain=1)
            nn.init.constant_(fc.bias, 0)


stats = OrderedDict()
for tag, preset in (("tiny", "tiny"), ("tiny-x", "tiny_x")):
    torch.manual_seed(5)
    model = SELSA(preset)
    mmdet_init(model)
    sd = model.state_dict()
    for k, v in sd.items():
        x = v.detach().double().flatten()
        stats[tag + "|" + k] = [float(x.numel()), float(x.mean()),
                                float(x.std(unbiased=False)) if x.numel() > 1 else 0.0,
                                float(x.min()), float(x.max())]
    stats[tag + "|__count"] = [float(len(sd))]
write_fixture(os.path.join(OUT, "mmtrack_init_torch_stats.slfx"), stats)
print(f"  mmtrack_init: torch reference initialisation statistics of {len(stats)} entries")
