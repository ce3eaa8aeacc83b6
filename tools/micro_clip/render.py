"""Drawing primitives for micro-CLIP's pretraining images (see ``synthetic.py``).

Everything is drawn on a 64 px canvas and reduced to 32 px at the end, which
anti-aliases strokes and edges for free. Functions take a numpy ``Generator`` so
a sample is a pure function of its seed.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

CANVAS = 64
OUT = 32

# -- glyphs from fonts -------------------------------------------------------------------------
FONT_DIR = Path(os.environ.get("LORE_BENCH_FONT_DIR", "/usr/share/fonts/truetype/dejavu"))
#: DejaVu faces used for pretraining glyphs (recorded in docs/micro_clip.md). Only the
#: pretraining script needs them; loading the shipped weights never touches fonts.
FONT_FILES = (
    "DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf", "DejaVuSans-ExtraLight.ttf",
    "DejaVuSansCondensed.ttf", "DejaVuSansCondensed-Bold.ttf", "DejaVuSansMono.ttf",
    "DejaVuSansMono-Bold.ttf", "DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf", "DejaVuSerif-Italic.ttf",
    "DejaVuSerifCondensed-BoldItalic.ttf",
)


def font_glyphs(chars: str, font_dir: Path = FONT_DIR) -> dict[str, list[np.ndarray]]:
    """char -> one tight float mask per available font face."""
    faces = [font_dir / f for f in FONT_FILES if (font_dir / f).exists()]
    if not faces:
        raise FileNotFoundError(f"no DejaVu fonts under {font_dir}; pretraining renders digits from them")
    out: dict[str, list[np.ndarray]] = {c: [] for c in chars}
    for face in faces:
        font = ImageFont.truetype(str(face), 48)
        for c in chars:
            img = Image.new("L", (80, 80), 0)
            ImageDraw.Draw(img).text((40, 40), c, fill=255, font=font, anchor="mm")
            box = img.getbbox()
            out[c].append(np.asarray(img.crop(box), dtype=np.float32) / 255.0)
    return out


# -- handwriting-like digits: pen skeletons in a unit box (x right, y down) --------------------
def _arc(cx, cy, rx, ry, a0, a1, n=14):
    t = np.radians(np.linspace(a0, a1, n))
    return list(zip(cx + rx * np.cos(t), cy + ry * np.sin(t)))


def _digit_strokes(d: int, v: int) -> list[list[tuple[float, float]]]:
    """Pen strokes of digit ``d``; ``v`` picks one of the common handwritten variants."""
    if d == 0:
        return [_arc(0.5, 0.5, 0.3 + 0.05 * v, 0.45, -90, 280, 20)]
    if d == 1:
        base = [[(0.52, 0.05), (0.48, 0.95)]]
        return base + ([[(0.3, 0.25), (0.52, 0.05)]] if v else [])
    if d == 2:
        return [_arc(0.5, 0.32, 0.32, 0.27, 200, 400) + [(0.12, 0.95), (0.9, 0.93 - 0.05 * v)]]
    if d == 3:
        return [_arc(0.48, 0.28, 0.3, 0.23, 200, 450) + _arc(0.48, 0.72, 0.34, 0.24, 270, 520)[1:]]
    if d == 4:
        if v:  # open top
            return [[(0.22, 0.05), (0.15, 0.6), (0.88, 0.6)], [(0.7, 0.1), (0.68, 0.95)]]
        return [[(0.65, 0.05), (0.1, 0.65), (0.9, 0.65)], [(0.65, 0.05), (0.66, 0.95)]]
    if d == 5:
        return [[(0.85, 0.05), (0.3, 0.05), (0.25, 0.45)] + _arc(0.5, 0.67, 0.32, 0.28, 220, 510)]
    if d == 6:
        return [_arc(0.62, 0.62, 0.42, 0.57, 280, 180) + _arc(0.5, 0.7, 0.3, 0.25, 180, 540)]
    if d == 7:
        main = [[(0.1, 0.05), (0.9, 0.05), (0.4 + 0.1 * v, 0.95)]]
        return main + ([[(0.35, 0.5), (0.8, 0.5)]] if v else [])
    if d == 8:
        return [_arc(0.5, 0.27, 0.25, 0.22, 90, 450), _arc(0.5, 0.72, 0.31, 0.25, -90, 270)]
    if d == 9:
        tail = [(0.8, 0.3), (0.78, 0.95)] if v else _arc(0.3, 0.3, 0.5, 0.65, 0, 80)
        return [_arc(0.5, 0.3, 0.3, 0.25, 0, 360), tail]
    raise ValueError(d)


def stroke_digit(rng: np.random.Generator, d: int) -> np.ndarray:
    """A handwriting-like digit mask: jittered pen skeleton drawn with a random pen width."""
    strokes = _digit_strokes(d, int(rng.integers(2)))
    img = Image.new("L", (CANVAS, CANVAS), 0)
    draw = ImageDraw.Draw(img)
    width = int(rng.integers(4, 10))
    aspect = rng.uniform(0.55, 0.95)  # handwritten digits are narrower than tall
    for s in strokes:
        pts = np.asarray(s) + rng.normal(0, 0.025, (len(s), 2))
        pts = pts * [40 * aspect, 48] + [CANVAS / 2 - 20 * aspect, 8]
        draw.line([tuple(p) for p in pts], fill=255, width=width, joint="curve")
    box = img.getbbox() or (0, 0, CANVAS, CANVAS)
    return np.asarray(img.crop(box), dtype=np.float32) / 255.0


def place_mask(rng, mask: np.ndarray, height: float, rotate: float = 15, centre_jitter: float = 0.15) -> np.ndarray:
    """Scale a tight mask to ``height`` (canvas px), rotate/shear it, and put it on the canvas."""
    h, w = mask.shape
    scale = height / h
    img = Image.fromarray((mask * 255).astype(np.uint8))
    img = img.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.BILINEAR)
    img = img.rotate(rng.uniform(-rotate, rotate), Image.BILINEAR, expand=True)
    shear = rng.uniform(-0.25, 0.25)
    img = img.transform(img.size, Image.AFFINE, (1, shear, -shear * img.size[1] / 2, 0, 1, 0), Image.BILINEAR)
    canvas = Image.new("L", (CANVAS, CANVAS), 0)
    cx = CANVAS / 2 + rng.uniform(-centre_jitter, centre_jitter) * CANVAS
    cy = CANVAS / 2 + rng.uniform(-centre_jitter, centre_jitter) * CANVAS
    canvas.paste(img, (round(cx - img.size[0] / 2), round(cy - img.size[1] / 2)))
    k = int(rng.choice([0, 0, 0, 3, 5]))  # thicker pens
    if k:
        canvas = canvas.filter(ImageFilter.MaxFilter(k))
    return np.asarray(canvas, dtype=np.float32) / 255.0


# -- shapes -----------------------------------------------------------------------------------------
SHAPES = ("circle", "square", "triangle", "cross", "ring", "star", "diamond", "rectangle", "line", "heart")


def shape_mask(rng, shape: str, cx: float, cy: float, size: float, outline: bool, width: int = 3) -> np.ndarray:
    """A shape centred at (cx, cy) with ``size`` canvas px, filled or outlined."""
    img = Image.new("L", (CANVAS, CANVAS), 0)
    d = ImageDraw.Draw(img)
    r = size / 2
    fill, line = (None, 255) if outline else (255, None)
    box = [cx - r, cy - r, cx + r, cy + r]
    if shape == "circle":
        d.ellipse(box, fill=255)
    elif shape == "ring":
        d.ellipse(box, outline=255, width=width)
    elif shape == "square":
        d.rectangle(box, fill=fill, outline=line, width=width)
    elif shape == "rectangle":
        d.rectangle([cx - r, cy - r * 0.5, cx + r, cy + r * 0.5], fill=fill, outline=line, width=width)
    elif shape == "cross":
        t = max(width, size / 5) / 2
        d.rectangle([cx - r, cy - t, cx + r, cy + t], fill=255)
        d.rectangle([cx - t, cy - r, cx + t, cy + r], fill=255)
    elif shape == "line":
        a = rng.uniform(0, math.pi)
        d.line([cx - r * math.cos(a), cy - r * math.sin(a), cx + r * math.cos(a), cy + r * math.sin(a)],
               fill=255, width=width)
    else:
        pts = _polygon(shape, cx, cy, r)
        if outline:
            d.line(pts + pts[:1], fill=255, width=width, joint="curve")
        else:
            d.polygon(pts, fill=255)
    return np.asarray(img, dtype=np.float32) / 255.0


def _polygon(shape, cx, cy, r):
    if shape == "triangle":
        angles, radii = [-90, 30, 150], [r] * 3
    elif shape == "diamond":
        angles, radii = [-90, 0, 90, 180], [r, r * 0.7, r, r * 0.7]
    elif shape == "star":
        angles, radii = list(range(-90, 270, 36)), [r, r * 0.45] * 5
    elif shape == "heart":
        pts = [(16 * math.sin(t) ** 3, -(13 * math.cos(t) - 5 * math.cos(2 * t) - 2 * math.cos(3 * t) - math.cos(4 * t)))
               for t in np.linspace(0, 2 * math.pi, 24, endpoint=False)]
        return [(cx + x * r / 17, cy + y * r / 17) for x, y in pts]
    else:
        raise ValueError(shape)
    return [(cx + q * math.cos(math.radians(a)), cy + q * math.sin(math.radians(a))) for a, q in zip(angles, radii)]


def clutter_mask(rng, n: int, avoid: tuple[float, float, float] | None = None) -> list[np.ndarray]:
    """Distractors (dots, short strokes, blobs) as separate masks, away from ``avoid`` = (x, y, r)."""
    out = []
    for _ in range(n):
        for _try in range(10):
            x, y = rng.uniform(4, CANVAS - 4, 2)
            if avoid is None or math.hypot(x - avoid[0], y - avoid[1]) > avoid[2]:
                break
        img = Image.new("L", (CANVAS, CANVAS), 0)
        d = ImageDraw.Draw(img)
        kind = rng.integers(3)
        s = rng.uniform(3, 9)
        if kind == 0:
            d.ellipse([x - s / 2, y - s / 2, x + s / 2, y + s / 2], fill=255)
        elif kind == 1:
            a = rng.uniform(0, math.pi)
            d.line([x, y, x + s * 1.5 * math.cos(a), y + s * 1.5 * math.sin(a)], fill=255, width=int(rng.integers(2, 4)))
        else:
            pts = [(x + rng.uniform(-s, s), y + rng.uniform(-s, s)) for _ in range(5)]
            d.polygon(pts, fill=255)
        out.append(np.asarray(img, dtype=np.float32) / 255.0)
    return out


# -- procedural textures (grey level in [0, 1], canvas size) ------------------------------------
def brick(rng) -> np.ndarray:
    n = CANVAS
    length, height = rng.uniform(40, 120), rng.uniform(12, 34)  # real bricks: ~15 px wide at 32 px
    mortar = rng.uniform(2.0, 5.0)
    y, x = np.mgrid[0:n, 0:n].astype(np.float32) + rng.uniform(0, 64, 2)[:, None, None]
    row = np.floor(y / (height + mortar))
    xs = x + (row % 2) * (length + mortar) * rng.uniform(0.3, 0.7)
    col = np.floor(xs / (length + mortar))
    in_mortar = ((y % (height + mortar)) < mortar) | ((xs % (length + mortar)) < mortar)
    tone = rng.uniform(0.25, 0.5) + 0.08 * np.sin(row * 12.9898 + col * 78.233) * rng.uniform(0.5, 1.5)
    light = rng.uniform(0.6, 0.85)
    img = np.where(in_mortar, light, tone) + rng.normal(0, 0.04, (n, n))
    if rng.random() < 0.6:  # the real wall in skimage has bricks standing upright
        img = img.T
    return _rotate(rng, img, 12)


def grass(rng) -> np.ndarray:
    img = Image.new("L", (CANVAS, CANVAS), int(rng.uniform(40, 90)))
    d = ImageDraw.Draw(img)
    upright = rng.uniform(0.2, 1.0)
    for _ in range(int(rng.integers(60, 140))):
        x, y = rng.uniform(-8, CANVAS + 8, 2)
        a = -math.pi / 2 + rng.normal(0, 1.6 * (1 - upright) + 0.3)
        ln = rng.uniform(6, 28)
        d.line([x, y, x + ln * math.cos(a), y + ln * math.sin(a)], fill=int(rng.uniform(90, 230)),
               width=int(rng.choice([1, 1, 2, 3])))
    return np.asarray(img, dtype=np.float32) / 255.0


def gravel(rng) -> np.ndarray:
    n = CANVAS
    k = int(rng.integers(10, 45))  # stones of 6-12 px at 32 px, like the real gravel
    seeds = rng.uniform(0, n, (k, 2)).astype(np.float32)
    y, x = np.mgrid[0:n, 0:n].astype(np.float32)
    dist = (x.reshape(-1, 1) - seeds[:, 0]) ** 2 + (y.reshape(-1, 1) - seeds[:, 1]) ** 2
    flat = dist.argmin(-1)
    d1 = np.sqrt(dist[np.arange(n * n), flat])
    dist[np.arange(n * n), flat] = np.inf
    d2 = np.sqrt(dist.min(-1))
    nearest, d1, d2 = flat.reshape(n, n), d1.reshape(n, n), d2.reshape(n, n)
    tone = rng.uniform(0.35, 0.85, k)[nearest]
    # light from the top left: stones are brighter on that side
    shade = ((seeds[nearest, 0] - x) + (seeds[nearest, 1] - y)) * rng.uniform(0.005, 0.015)
    img = tone + shade
    img = np.where(d2 - d1 < rng.uniform(1.0, 3.0), rng.uniform(0.05, 0.25), img)
    return img + rng.normal(0, 0.03, (n, n))


def weave(rng) -> np.ndarray:
    """A fabric-like woven pattern."""
    y, x = np.mgrid[0:CANVAS, 0:CANVAS].astype(np.float32)
    p = rng.uniform(2.5, 6)
    if rng.random() < 0.5:
        img = 0.5 + 0.2 * np.sin(2 * np.pi * x / p) * np.sin(2 * np.pi * y / p)
    else:  # twill
        img = 0.5 + 0.2 * np.sin(2 * np.pi * (x + y) / p) + 0.05 * np.sin(2 * np.pi * x / p)
    return img * rng.uniform(0.7, 1.3) + rng.normal(0, 0.03, img.shape)


def _rotate(rng, img: np.ndarray, degrees: float) -> np.ndarray:
    pil = Image.fromarray(np.clip(img * 255, 0, 255).astype(np.uint8))
    pil = pil.rotate(rng.uniform(-degrees, degrees), Image.BILINEAR, expand=False, fillcolor=int(img.mean() * 255))
    return np.asarray(pil, dtype=np.float32) / 255.0


# -- colour and finishing ----------------------------------------------------------------------
COLOURS = {
    "red": (220, 40, 40), "green": (40, 170, 60), "blue": (40, 70, 220), "yellow": (235, 215, 40),
    "orange": (245, 140, 30), "purple": (140, 50, 180), "pink": (240, 130, 190), "white": (245, 245, 245),
    "black": (15, 15, 15), "gray": (128, 128, 128), "brown": (130, 80, 40), "cyan": (40, 200, 220),
}


def luminance(rgb) -> float:
    return (0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]) / 255.0


def jitter_colour(rng, rgb, amount: float = 25) -> np.ndarray:
    return np.clip(np.asarray(rgb, dtype=np.float32) + rng.normal(0, amount, 3), 0, 255)


def compose(background: np.ndarray, layers: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Alpha-blend colour layers (mask [H, W], rgb [3]) over a background [H, W, 3]."""
    img = background.astype(np.float32)
    for mask, rgb in layers:
        img = img * (1 - mask[..., None]) + mask[..., None] * np.asarray(rgb, dtype=np.float32)
    return img


def background(rng, rgb) -> np.ndarray:
    """Flat, gradient or noisy background of a base colour, canvas size."""
    base = np.broadcast_to(jitter_colour(rng, rgb, 10), (CANVAS, CANVAS, 3)).astype(np.float32)
    r = rng.random()
    if r < 0.25:
        ramp = np.linspace(-1, 1, CANVAS, dtype=np.float32)
        ramp = ramp[None, :] if rng.random() < 0.5 else ramp[:, None]
        base = base + (ramp * rng.uniform(10, 40))[..., None]
    elif r < 0.45:
        base = base + rng.normal(0, rng.uniform(5, 25), (CANVAS, CANVAS, 1))
    return base


def finish(rng, img: np.ndarray, lowres_p: float = 0.0) -> np.ndarray:
    """Canvas float RGB -> 32 px uint8, with optional low-resolution look, blur and noise."""
    pil = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    if rng.random() < lowres_p:  # like tiny scans (scikit-learn's 8x8 digits) blown up again
        r = int(rng.integers(7, 15))
        pil = pil.resize((r, r), Image.BOX).resize((OUT, OUT), rng.choice([Image.BICUBIC, Image.BILINEAR, Image.NEAREST]))
    else:
        pil = pil.resize((OUT, OUT), Image.BOX)
    if rng.random() < 0.3:
        pil = pil.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.0)))
    out = np.asarray(pil, dtype=np.float32)
    if rng.random() < 0.3:
        out = out + rng.normal(0, rng.uniform(3, 15), out.shape)
    return np.clip(out, 0, 255).astype(np.uint8)
