"""Captioned 32 px images that micro-CLIP is pretrained on, generated deterministically.

Batch ``i`` of a stream with seed ``s`` is a pure function of ``(s, i)``, so a
run can be reproduced batch by batch and any data-loader worker can make any
batch. The images are generated only (never real digits or photos), from seed
streams that no evaluation set uses, so every evaluation is zero-shot.

Caption wording varies on purpose; its vocabulary covers the prompts of the
default suite's datasets (``EVAL_PROMPTS``) so that no prompt word falls back to
the untrained token vector.
"""
from __future__ import annotations

import numpy as np

from . import render as R

GENERATOR_VERSION = "synthetic-v1"
#: First entropy word of every pretraining stream; evaluation datasets use other words.
STREAM_TAG = 0x6D696372  # "micr"

DIGITS = "0123456789"
LETTERS = "ABCDEFGHKMPRSTXYZaenrt"
TEXTURES = ("brick", "grass", "gravel")
TEXTILE = ("nominal", "local defect", "global defect")
LOCALITY_SHAPES = ("cross", "ring", "square", "triangle")  # lore_bench.benchmarks.datasets.locality

#: The default suite's class names x templates, which the captions must cover.
EVAL_PROMPTS = {
    "digits": ("a photo of the digit {}.", list(DIGITS)),
    "textures": ("a photo of {} texture.", list(TEXTURES)),
    "textile_defects": ("a photo of a {} textile.", list(TEXTILE)),
    "locality": ("a photo of a small {} among clutter.", list(LOCALITY_SHAPES)),
}

PREFIXES = ("a photo of", "this is a photo of", "an image of", "a picture of", "a blurry photo of", "")
KINDS = {  # kind -> share of a batch
    "digit_font": 0.24, "digit_pen": 0.22, "letter": 0.05, "shape": 0.13,
    "clutter": 0.08, "texture": 0.18, "textile": 0.10,
}


def _pick(rng, seq):
    return seq[int(rng.integers(len(seq)))]


def _prefixed(rng, rest: str) -> str:
    p = _pick(rng, PREFIXES)
    return f"{p} {rest}".strip()


def _contrasting(rng, min_gap: float = 0.35) -> tuple[str, str]:
    names = list(R.COLOURS)
    while True:
        fg, bg = _pick(rng, names), _pick(rng, names)
        if abs(R.luminance(R.COLOURS[fg]) - R.luminance(R.COLOURS[bg])) >= min_gap:
            return fg, bg


class CaptionedImages:
    """Deterministic stream of (image uint8 [32, 32, 3], caption) pairs."""

    def __init__(self, seed: int = 0):
        self.seed = seed
        self._glyphs = None  # built lazily: the object travels to data-loader workers

    @property
    def glyphs(self):
        if self._glyphs is None:
            self._glyphs = R.font_glyphs(DIGITS + LETTERS)
        return self._glyphs

    def batch(self, index: int, size: int) -> tuple[np.ndarray, list[str]]:
        rng = np.random.default_rng([STREAM_TAG, self.seed, index])
        kinds, weights = list(KINDS), np.array(list(KINDS.values()))
        picks = rng.choice(len(kinds), size=size, p=weights / weights.sum())
        pairs = [getattr(self, f"_{kinds[k]}")(rng) for k in picks]
        return np.stack([p[0] for p in pairs]), [p[1] for p in pairs]

    # -- one sample per kind: (image, caption) --------------------------------------------------
    def _glyph_image(self, rng, mask, name: str, noun: str):
        mnist_like = rng.random() < 0.45  # light pen on black, as real digit scans are stored
        if mnist_like:
            fg, bg = "white", "black"
        else:
            fg, bg = _contrasting(rng)
        height = rng.uniform(30, 60)
        m = R.place_mask(rng, mask, height, centre_jitter=0.1 if height > 48 else 0.2)
        img = R.compose(R.background(rng, R.COLOURS[bg]), [(m, R.jitter_colour(rng, R.COLOURS[fg]))])
        img = R.finish(rng, img, lowres_p=0.3)
        r = rng.random()
        if r < 0.35:
            cap = _prefixed(rng, f"the {noun} {name}.")
        elif r < 0.55:
            cap = f"a {fg} {noun} {name} on a {bg} background"
        elif r < 0.7:
            cap = f"a handwritten {noun} {name}" if noun == "digit" else f"the {noun} {name} in {fg}"
        elif r < 0.85:
            cap = f"the number {name}" if noun == "digit" else f"a {noun} {name}"
        else:
            cap = f"{noun} {name}"
        return img, cap

    def _digit_font(self, rng):
        d = _pick(rng, DIGITS)
        return self._glyph_image(rng, _pick(rng, self.glyphs[d]), d, "digit")

    def _digit_pen(self, rng):
        d = int(rng.integers(10))
        return self._glyph_image(rng, R.stroke_digit(rng, d), str(d), "digit")

    def _letter(self, rng):
        c = _pick(rng, LETTERS)
        return self._glyph_image(rng, _pick(rng, self.glyphs[c]), c.lower(), "letter")

    def _shape(self, rng):
        n = 1 if rng.random() < 0.7 else 2
        bgname = _pick(rng, list(R.COLOURS))
        layers, words = [], []
        for _ in range(n):
            shape = _pick(rng, R.SHAPES)
            fg, _ = _contrasting(rng)
            while abs(R.luminance(R.COLOURS[fg]) - R.luminance(R.COLOURS[bgname])) < 0.3:
                fg = _pick(rng, list(R.COLOURS))
            size = rng.uniform(16, 52) if n == 1 else rng.uniform(14, 28)
            cx, cy = rng.uniform(size / 2, R.CANVAS - size / 2, 2)
            outline = shape in ("ring",) or rng.random() < 0.3
            layers.append((R.shape_mask(rng, shape, cx, cy, size, outline, int(rng.integers(2, 5))),
                           R.jitter_colour(rng, R.COLOURS[fg])))
            adj = "small " if size < 26 else ("large " if size > 40 else "")
            words.append(f"a {adj}{fg} {shape}")
        img = R.finish(rng, R.compose(R.background(rng, R.COLOURS[bgname]), layers))
        shapes = " and ".join(words)
        r = rng.random()
        if r < 0.4:
            cap = f"{shapes} on a {bgname} background"
        elif r < 0.7:
            cap = _prefixed(rng, shapes + ".")
        else:
            cap = shapes
        return img, cap

    def _clutter(self, rng):
        """A shape among distractors: teaches the locality dataset's words (its own scenes
        are smaller motifs in denser clutter, drawn from other seeds)."""
        shape = _pick(rng, LOCALITY_SHAPES)
        size = rng.uniform(14, 26)
        cx, cy = rng.uniform(size / 2 + 2, R.CANVAS - size / 2 - 2, 2)
        bg = _pick(rng, list(R.COLOURS))
        palette = [c for c in R.COLOURS if abs(R.luminance(R.COLOURS[c]) - R.luminance(R.COLOURS[bg])) > 0.25]
        fg = _pick(rng, palette)
        layers = [(m, R.jitter_colour(rng, R.COLOURS[_pick(rng, palette)]))
                  for m in R.clutter_mask(rng, int(rng.integers(2, 7)), avoid=(cx, cy, size * 0.75))]
        layers.append((R.shape_mask(rng, shape, cx, cy, size, outline=rng.random() < 0.7, width=int(rng.integers(2, 4))),
                       R.jitter_colour(rng, R.COLOURS[fg])))
        img = R.finish(rng, R.compose(R.background(rng, R.COLOURS[bg]), layers))
        r = rng.random()
        if r < 0.4:
            cap = _prefixed(rng, f"a small {shape} among clutter.")
        elif r < 0.7:
            cap = f"a {fg} {shape} among clutter"
        else:
            cap = f"a cluttered image with a {shape}"
        return img, cap

    def _texture(self, rng):
        name = _pick(rng, TEXTURES)
        grey = getattr(R, name)(rng)
        grey = (grey - grey.mean()) * rng.uniform(0.7, 1.4) + rng.uniform(0.35, 0.6)
        tint = {"brick": (1.0, 0.6, 0.45), "grass": (0.55, 1.0, 0.45), "gravel": (0.95, 0.9, 0.8)}[name]
        coloured = rng.random() < 0.4  # the evaluation textures are grey photographs
        rgb = np.asarray(tint if coloured else (1.0, 1.0, 1.0), dtype=np.float32)
        img = R.finish(rng, grey[..., None] * rgb * 255)
        word = {"brick": "brick wall", "grass": "lawn of grass", "gravel": "pile of gravel"}[name]
        r = rng.random()
        if r < 0.45:
            cap = _prefixed(rng, f"{name} texture.")
        elif r < 0.6:
            cap = f"a close-up photo of a {word}"
        elif r < 0.75:
            cap = f"a {'colour' if coloured else 'gray'} photo of {name}"
        else:
            cap = f"{name} texture"
        return img, cap

    def _textile(self, rng):
        label = _pick(rng, TEXTILE)
        img = R.weave(rng)
        if label == "local defect":
            s = rng.uniform(3, 9)
            cx, cy = rng.uniform(8, R.CANVAS - 8, 2)
            m = R.shape_mask(rng, _pick(rng, ("circle", "line", "square")), cx, cy, s, outline=False, width=2)
            img = img * (1 - m) + m * rng.choice([0.05, 0.95])
        elif label == "global defect":
            y, x = np.mgrid[0 : R.CANVAS, 0 : R.CANVAS].astype(np.float32)
            if rng.random() < 0.5:
                img = img + 0.25 * np.sin(2 * np.pi * (x if rng.random() < 0.5 else y) / rng.uniform(12, 40))
            else:
                img = img * np.linspace(rng.uniform(0.4, 0.7), 1.2, R.CANVAS, dtype=np.float32)[None, :]
        tint = R.jitter_colour(rng, (200, 190, 170), 40) / 255
        out = R.finish(rng, img[..., None] * tint * 255)
        r = rng.random()
        if r < 0.5:
            cap = _prefixed(rng, f"a {label} textile.")
        elif r < 0.75:
            cap = f"a fabric with a {label}" if label != "nominal" else "a nominal fabric without defects"
        else:
            cap = f"{label} textile"
        return out, cap


def eval_prompt_texts() -> list[str]:
    return [tpl.format(c) for tpl, names in EVAL_PROMPTS.values() for c in names]


#: Every word a caption can contain besides the lists above (kept in sync by a test).
CAPTION_WORDS = (
    "the a an digit number letter handwritten on background in small large and among clutter cluttered "
    "image with texture close-up photo of wall lawn pile colour gray fabric without defects textile this is "
    "picture blurry . ,"
)


def vocabulary_text() -> str:
    """All caption and prompt words in one string: its BPE tokens are the tokens micro-CLIP trains.
    (CLIP's BPE splits text into words first, so a caption's tokens are its words' tokens.)"""
    parts = [CAPTION_WORDS, " ".join(PREFIXES), " ".join(DIGITS), " ".join(LETTERS.lower()),
             " ".join(R.COLOURS), " ".join(R.SHAPES), " ".join(TEXTURES), " ".join(TEXTILE)]
    return " ".join(parts + eval_prompt_texts())
