"""Reference fixtures for tests/test_train_data.c.

1. The whole official SSDAugmentation (PhotometricDistort, Expand, RandomSampleCrop as in
   ssd.pytorch's augmentations.py, with the official aug config changes of official-selsa.md
   §8.5: expand ratio U(1, 2), crop width U(0.3W, W) with h = w·H/W, no min-IoU check), written
   here from the Python code's semantics with numpy float32 arrays and cv2.cvtColor, then
   astype(np.uint8). Its `numpy.random` calls are served by a Python port of the library's PCG32
   (selsa_rng: seed/stream, below(n) for randint/choice, 53-bit uniform) so the C and this
   reference see the same draws: randint(n) -> below(n), uniform(lo, hi=1.0) -> lo + (hi-lo)*u,
   choice(seq) -> seq[below(len)].
2. OpenCV's float32 BGR<->HSV conversions as
ssd.pytorch's PhotometricDistort uses them (cv2.cvtColor on a float32 image, also with values
outside [0, 255] after the brightness step), the saturation / hue steps of RandomSaturation /
RandomHue with fixed factors, and numpy's float32 -> uint8 astype (no clipping).
Usage: /usr/bin/python3 tests/ref/gen_train_data.py <fixture dir>
"""
import os
import sys

import cv2
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _fixture_io import write_fixture  # noqa: E402

cv2.setNumThreads(1)


M64 = (1 << 64) - 1


class PCG32:
    """selsa_rng (src/core/rng.c is PCG32 XSH-RR, O'Neill 2014)."""

    def __init__(self, seed, stream):
        self.state = 0
        self.inc = ((stream << 1) | 1) & M64
        self.u32()
        self.state = (self.state + seed) & M64
        self.u32()

    def u32(self):
        old = self.state
        self.state = (old * 6364136223846793005 + self.inc) & M64
        xs = (((old >> 18) ^ old) >> 27) & 0xFFFFFFFF
        rot = old >> 59
        return ((xs >> rot) | (xs << ((-rot) & 31))) & 0xFFFFFFFF

    def below(self, n):
        if n <= 1:
            return 0
        th = ((1 << 32) - n) % n
        while True:
            x = self.u32()
            if x >= th:
                return x % n

    def uniform01(self):
        hi = self.u32() >> 5
        lo = self.u32() >> 6
        return (hi * 67108864 + lo) * (1.0 / 9007199254740992.0)


class NumpyRandomShim:
    """The subset of numpy.random that augmentations.py calls."""

    def __init__(self, g):
        self.g = g

    def randint(self, n):
        return self.g.below(n)

    def uniform(self, low=0.0, high=1.0):
        return low + (high - low) * self.g.uniform01()

    def choice(self, seq):
        return seq[self.g.below(len(seq))]


def ssd_augment(random, image, boxes, labels, mean, expand_scale=2.0, crop_pert=0.3):
    """SSDAugmentation(mean, expand_scale, crop_pert, color=True) minus its resize/mean steps."""
    image = image.astype(np.float32)                       # ConvertFromInts
    # ---- PhotometricDistort
    im = image.copy()
    if random.randint(2):                                  # RandomBrightness(32)
        im += random.uniform(-32, 32)

    def contrast(im):
        if random.randint(2):
            im *= random.uniform(0.5, 1.5)
        return im

    def hsv_ops(im):
        im = cv2.cvtColor(im, cv2.COLOR_BGR2HSV)
        if random.randint(2):                              # RandomSaturation
            im[:, :, 1] *= random.uniform(0.5, 1.5)
        if random.randint(2):                              # RandomHue(18)
            im[:, :, 0] += random.uniform(-18, 18)
            im[:, :, 0][im[:, :, 0] > 360.0] -= 360.0
            im[:, :, 0][im[:, :, 0] < 0.0] += 360.0
        return cv2.cvtColor(im, cv2.COLOR_HSV2BGR)

    if random.randint(2):
        im = hsv_ops(contrast(im))                         # pd[:-1]
    else:
        im = contrast(hsv_ops(im))                         # pd[1:]
    if random.randint(2):                                  # RandomLightingNoise
        perms = ((0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0))
        im = im[:, :, perms[random.randint(len(perms))]]
    image = im
    # ---- Expand
    if not random.randint(2):
        height, width, depth = image.shape
        ratio = random.uniform(1, expand_scale)
        left = random.uniform(0, width * ratio - width)
        top = random.uniform(0, height * ratio - height)
        expand_image = np.zeros((int(height * ratio), int(width * ratio), depth), dtype=image.dtype)
        expand_image[:, :, :] = mean
        expand_image[int(top):int(top + height), int(left):int(left + width)] = image
        image = expand_image
        boxes = boxes.copy()
        boxes[:, :2] += (int(left), int(top))
        boxes[:, 2:] += (int(left), int(top))
    # ---- RandomSampleCrop (aspect kept; min-IoU test is always False and omitted)
    options = (None, (0.1, None), (0.3, None), (0.7, None), (0.9, None), (None, None))
    height, width, _ = image.shape
    while True:
        mode = random.choice(options)
        if mode is None:
            break
        done = False
        for _ in range(50):
            w = random.uniform(crop_pert * width, width)
            h = w * height / width
            left = random.uniform(width - w)
            top = random.uniform(height - h)
            rect = np.array([int(left), int(top), int(left + w), int(top + h)])
            centers = (boxes[:, :2] + boxes[:, 2:]) / 2.0
            m1 = (rect[0] < centers[:, 0]) * (rect[1] < centers[:, 1])
            m2 = (rect[2] > centers[:, 0]) * (rect[3] > centers[:, 1])
            mask = m1 * m2
            if not mask.any():
                continue
            image = image[rect[1]:rect[3], rect[0]:rect[2], :]
            cb = boxes[mask, :].copy()
            labels = labels[mask]
            cb[:, :2] = np.maximum(cb[:, :2], rect[:2])
            cb[:, :2] -= rect[:2]
            cb[:, 2:] = np.minimum(cb[:, 2:], rect[2:])
            cb[:, 2:] -= rect[:2]
            boxes = cb
            done = True
            break
        if done:
            break
    return image.astype(np.uint8), boxes, labels


def ssd_fixture(out_dir, trials=60):
    rng = np.random.RandomState(9)
    H, W = 24, 36
    yy, xx = np.mgrid[0:H, 0:W]
    img = np.stack([(xx * 7 + yy * 3) % 256, (yy * 11) % 256, (xx * 5 + 40) % 256], axis=2)
    img = (img + rng.randint(0, 30, size=img.shape)).clip(0, 255).astype(np.uint8)
    boxes = np.array([[2, 3, 10, 12], [15, 5, 30, 20], [20, 14, 34, 22]], np.float32)
    labels = np.array([1, 2, 3], np.int32)
    mean = (103.06, 115.90, 123.15)
    dims, pix, out_boxes = [], [], np.zeros((trials, 3, 4), np.float32)
    out_labels = np.zeros((trials, 3), np.int32)
    for t in range(trials):
        random = NumpyRandomShim(PCG32(21, t))
        im, b, l = ssd_augment(random, img, boxes.copy(), labels.copy(), mean)
        dims.append((im.shape[0], im.shape[1], len(b)))
        pix.append(im.reshape(-1).astype(np.int32))
        out_boxes[t, :len(b)] = b
        out_labels[t, :len(l)] = l
    write_fixture(os.path.join(out_dir, "train_data_ssd.slfx"), {
        "img": img.astype(np.int32), "boxes": boxes, "labels": labels,
        "dims": np.array(dims, np.int32), "pixels": np.concatenate(pix),
        "out_boxes": out_boxes, "out_labels": out_labels,
    })


def main(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    rng = np.random.RandomState(5)
    # integer pixels (ConvertFromInts) plus a brightness delta, so some values leave [0, 255]
    img = rng.randint(0, 256, size=(9, 13, 3)).astype(np.float32)
    img[:3] += np.float32(31.25)
    img[3:6] -= np.float32(27.5)
    img[0, 0] = (5, 5, 5)  # grey: S = 0
    hsv = cv2.cvtColor(img, cv2.COLOR_BGR2HSV)
    back = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)
    # RandomSaturation (x1.3) then RandomHue (+-) with the ssd.pytorch wrap, back to BGR
    mod = hsv.copy()
    mod[:, :, 1] *= np.float32(1.3)
    mod[:, :, 0] += np.float32(-17.5)
    mod[:, :, 0][mod[:, :, 0] > 360.0] -= 360.0
    mod[:, :, 0][mod[:, :, 0] < 0.0] += 360.0
    mod_back = cv2.cvtColor(mod, cv2.COLOR_HSV2BGR)
    wide = np.linspace(-600.0, 900.0, 301).astype(np.float32)
    write_fixture(os.path.join(out_dir, "train_data_hsv.slfx"), {
        "img": img, "hsv": hsv, "back": back, "mod_back": mod_back,
        "wide": wide, "wide_u8": wide.astype(np.uint8).astype(np.int32),
    })
    ssd_fixture(out_dir)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "build/fixtures")
