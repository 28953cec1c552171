"""Shared pieces of the sanagraph demo model: data grammar and rasteriser, tokenizer, judge, models, samplers.

Run with Debian's torch (/usr/bin/python3). Nothing here is needed at run time by the product.
"""
import itertools
import math
import os
import random
import re

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

# ----------------------------------------------------------------------------------------------------------------
# Grammar: `a [small|large] <color> <shape> <position> on a <color> background`

COLORS = {
    'red': (220, 20, 20),
    'green': (20, 160, 40),
    'blue': (30, 70, 230),
    'yellow': (250, 230, 30),
    'purple': (140, 40, 190),
    'orange': (255, 140, 0),
    'white': (245, 245, 245),
    'black': (20, 20, 20),
}
COLOR_NAMES = list(COLORS)
PALETTE = np.array([COLORS[c] for c in COLOR_NAMES], dtype=np.float32)
SHAPES = ['circle', 'square', 'triangle']
POSITIONS = {
    'on the left': (0.2, 0.5),
    'on the right': (0.8, 0.5),
    'at the top': (0.5, 0.2),
    'at the bottom': (0.5, 0.8),
    'in the center': (0.5, 0.5),
}
POSITION_NAMES = list(POSITIONS)
ANCHORS = np.array([POSITIONS[p] for p in POSITION_NAMES], dtype=np.float32)
SIZES = ['small', 'medium', 'large']  # medium has no word in the caption
HALF_SIZE = {'small': 0.09, 'medium': 0.13, 'large': 0.18}  # fraction of the width, x U(0.9, 1.1)
JITTER = 0.03
RES = 128

# (fg colour, shape, position, bg colour), fg != bg: 8*7*3*5 = 840 combos; 84 held out (fixed, seed 123).
COMBOS = [(fg, sh, pos, bg) for fg, sh, pos, bg in itertools.product(COLOR_NAMES, SHAPES, POSITION_NAMES, COLOR_NAMES)
          if fg != bg]
HELD_OUT = random.Random(123).sample(COMBOS, 84)
HELD_OUT_SET = set(HELD_OUT)
TRAIN_COMBOS = [c for c in COMBOS if c not in HELD_OUT_SET]
assert len(COMBOS) == 840 and len(TRAIN_COMBOS) == 756


def caption(fg, shape, pos, bg, size):
    size_word = '' if size == 'medium' else size + ' '
    return f'a {size_word}{fg} {shape} {pos} on a {bg} background'


# ----------------------------------------------------------------------------------------------------------------
# Rasteriser: 2x2 supersampled coverage -> anti-aliased RGB uint8 at 128x128.

_SS = 2 * RES
_coords = (np.arange(_SS, dtype=np.float32) + 0.5) / _SS
_XX, _YY = np.meshgrid(_coords, _coords)


def render(fg, shape, pos, bg, size, rng):
    """Returns (image uint8 [128,128,3], coverage float32 [128,128])."""
    ax, ay = POSITIONS[pos]
    cx = ax + rng.uniform(-JITTER, JITTER)
    cy = ay + rng.uniform(-JITTER, JITTER)
    r = HALF_SIZE[size] * rng.uniform(0.9, 1.1)
    dx, dy = _XX - cx, _YY - cy
    if shape == 'circle':
        m = dx * dx + dy * dy < r * r
    elif shape == 'square':
        m = (np.abs(dx) < r) & (np.abs(dy) < r)
    else:  # apex (cx, cy - r) up, base at cy + r, half-width (y - cy + r) / 2
        m = (dy > -r) & (dy < r) & (np.abs(dx) < (dy + r) / 2)
    cov = m.astype(np.float32).reshape(RES, 2, RES, 2).mean(axis=(1, 3))
    fgc = np.array(COLORS[fg], np.float32)
    bgc = np.array(COLORS[bg], np.float32)
    img = bgc + cov[..., None] * (fgc - bgc)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8), cov


def make_dataset(n, seed, combos=None):
    """n images drawn from `combos` (default: the training combos), sizes uniform. Deterministic from seed."""
    combos = TRAIN_COMBOS if combos is None else combos
    rng = np.random.default_rng(seed)
    imgs = np.empty((n, RES, RES, 3), np.uint8)
    covs = np.empty((n, RES, RES), np.uint8)
    caps = []
    for i in range(n):
        fg, sh, pos, bg = combos[rng.integers(len(combos))]
        size = SIZES[rng.integers(3)]
        img, cov = render(fg, sh, pos, bg, size, rng)
        imgs[i] = img
        covs[i] = np.rint(cov * 255).astype(np.uint8)
        caps.append(caption(fg, sh, pos, bg, size))
    return imgs, covs, caps


def eval_prompts(combos):
    """The evaluation prompt list: every combo once, size cycled small/medium/large."""
    out = []
    for i, (fg, sh, pos, bg) in enumerate(combos):
        size = SIZES[i % 3]
        out.append(dict(fg=fg, shape=sh, pos=pos, bg=bg, size=size, text=caption(fg, sh, pos, bg, size)))
    return out


# ----------------------------------------------------------------------------------------------------------------
# Tokenizer. Must equal tokenizer.json as run by @huggingface/tokenizers in the engine (nodes/tokenizer.ts):
#   text.toLowerCase().trim() -> normalizer (Lowercase, Replace [^a-z0-9]+ -> ' ', Strip) -> WhitespaceSplit
#   -> WordLevel lookup (unknown -> <unk>) -> TemplateProcessing `<bos> $A` -> truncate to L -> right-pad <pad>.

PAD, BOS, UNK = '<pad>', '<bos>', '<unk>'
WORDS = ['a', 'small', 'large'] + COLOR_NAMES + SHAPES + ['on', 'the', 'left', 'right', 'at', 'top', 'bottom', 'in',
                                                           'center', 'background']
VOCAB = {PAD: 0, BOS: 1, UNK: 2}
for _w in WORDS:
    VOCAB[_w] = len(VOCAB)
VOCAB_SIZE = len(VOCAB)  # 27
ALIASES = {'an': 'a', 'centre': 'center', 'middle': 'center'}  # loose spellings share the id of their word
PAD_ID, BOS_ID, UNK_ID = VOCAB[PAD], VOCAB[BOS], VOCAB[UNK]
MAX_LEN = 16

# The shipped pipeline.json's sampling defaults (export writes them, evaluation reports them).
DEFAULT_SCHEDULER = 'flow_dpmpp_2m'
DEFAULT_SHIFT = 3.0
NORMALIZE_PATTERN = '[^a-z0-9]+'


def word_ids(text):
    s = re.sub(NORMALIZE_PATTERN, ' ', text.lower().strip()).strip()
    return [VOCAB.get(ALIASES.get(w, w), UNK_ID) for w in s.split()]


def tokenize(text, max_len=MAX_LEN):
    ids = ([BOS_ID] + word_ids(text))[:max_len]
    mask = [1] * len(ids) + [0] * (max_len - len(ids))
    ids = ids + [PAD_ID] * (max_len - len(ids))
    return ids, mask


def tokenize_batch(texts, max_len=MAX_LEN):
    pairs = [tokenize(t, max_len) for t in texts]
    return (torch.tensor([p[0] for p in pairs], dtype=torch.long), torch.tensor([p[1] for p in pairs], dtype=torch.long))


def tokenizer_json():
    vocab = dict(VOCAB)
    for alias, word in ALIASES.items():
        vocab[alias] = VOCAB[word]
    special = [dict(id=VOCAB[t], content=t, single_word=False, lstrip=False, rstrip=False, normalized=False, special=True)
               for t in (PAD, BOS, UNK)]
    return {
        'version': '1.0',
        'truncation': None,
        'padding': None,
        'added_tokens': special,
        'normalizer': {'type': 'Sequence', 'normalizers': [
            {'type': 'Lowercase'},
            {'type': 'Replace', 'pattern': {'Regex': NORMALIZE_PATTERN}, 'content': ' '},
            {'type': 'Strip', 'strip_left': True, 'strip_right': True},
        ]},
        'pre_tokenizer': {'type': 'WhitespaceSplit'},
        'post_processor': {
            'type': 'TemplateProcessing',
            'single': [{'SpecialToken': {'id': BOS, 'type_id': 0}}, {'Sequence': {'id': 'A', 'type_id': 0}}],
            'pair': [{'SpecialToken': {'id': BOS, 'type_id': 0}}, {'Sequence': {'id': 'A', 'type_id': 0}},
                     {'Sequence': {'id': 'B', 'type_id': 1}}],
            'special_tokens': {BOS: {'id': BOS, 'ids': [BOS_ID], 'tokens': [BOS]}},
        },
        'decoder': None,
        'model': {'type': 'WordLevel', 'vocab': vocab, 'unk_token': UNK},
    }


def tokenizer_config_json():
    return {'tokenizer_class': 'PreTrainedTokenizerFast', 'bos_token': BOS, 'pad_token': PAD, 'unk_token': UNK,
            'model_max_length': MAX_LEN, 'padding_side': 'right'}


# ----------------------------------------------------------------------------------------------------------------
# Judge: bg = median border colour -> nearest named colour; fg = mean of pixels with RGB distance > 80 from that
# median -> nearest named colour; position = nearest anchor to the centroid of those pixels; shape from the fill
# of their bounding box (circle pi/4, square 1, triangle 1/2); size from the box's larger side (2r/W).

FILL_THRESHOLDS = (0.64, 0.89)   # < 0.64 triangle, < 0.89 circle, else square
SIZE_THRESHOLDS = (0.22, 0.31)   # 2r: small 0.18, medium 0.26, large 0.36


def nearest_color(rgb):
    return COLOR_NAMES[int(np.argmin(((PALETTE - rgb) ** 2).sum(1)))]


def judge(img):
    img = img.astype(np.float32)
    border = np.concatenate([img[0], img[-1], img[:, 0], img[:, -1]])
    med = np.median(border, axis=0)
    out = {'bg': nearest_color(med), 'fg': None, 'pos': None, 'shape': None, 'size': None}
    m = np.sqrt(((img - med) ** 2).sum(-1)) > 80
    n = int(m.sum())
    if n < 4:
        return out
    out['fg'] = nearest_color(img[m].mean(0))
    ys, xs = np.nonzero(m)
    c = np.array([(xs.mean() + 0.5) / RES, (ys.mean() + 0.5) / RES])
    out['pos'] = POSITION_NAMES[int(np.argmin(((ANCHORS - c) ** 2).sum(1)))]
    h, w = ys.max() - ys.min() + 1, xs.max() - xs.min() + 1
    fill = n / float(h * w)
    out['shape'] = 'triangle' if fill < FILL_THRESHOLDS[0] else ('circle' if fill < FILL_THRESHOLDS[1] else 'square')
    side = max(h, w) / RES
    out['size'] = 'small' if side < SIZE_THRESHOLDS[0] else ('medium' if side < SIZE_THRESHOLDS[1] else 'large')
    return out


def score(prompts, images):
    """Accuracy (%) per measure over prompts/images (uint8 [N,128,128,3])."""
    keys = [('fg', 'fg'), ('bg', 'bg'), ('pos', 'pos'), ('shape', 'shape'), ('size', 'size')]
    hits = {k: 0 for k, _ in keys}
    hits['all3'] = hits['all4'] = 0
    for p, img in zip(prompts, images):
        j = judge(img)
        ok = {k: j[jk] == p[k] for k, jk in keys}
        for k in ok:
            hits[k] += ok[k]
        hits['all3'] += ok['fg'] and ok['bg'] and ok['pos']
        hits['all4'] += ok['fg'] and ok['bg'] and ok['pos'] and ok['shape']
    return {k: 100.0 * v / len(prompts) for k, v in hits.items()}


# ----------------------------------------------------------------------------------------------------------------
# Autoencoder: DC-AE style, f32c32, channels 16-32-64-128, space-to-channel shortcuts.

def dup_channels(x, r):
    """[B,C,H,W] -> [B,C*r,H,W], each channel repeated r times consecutively (repeat_interleave, ONNX-safe)."""
    b, c, h, w = x.shape
    return x[:, :, None].expand(b, c, r, h, w).reshape(b, c * r, h, w)


def avg_channels(x, g):
    """[B,C,H,W] -> [B,C/g,H,W], averaging consecutive groups of g channels."""
    b, c, h, w = x.shape
    return x.reshape(b, c // g, g, h, w).mean(2)


class ResBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.norm = nn.GroupNorm(8, c)
        self.conv1 = nn.Conv2d(c, c, 3, padding=1)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x):
        return x + self.conv2(F.silu(self.conv1(F.silu(self.norm(x)))))


class Down(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout // 4, 3, padding=1)
        self.g = 4 * cin // cout

    def forward(self, x):
        return F.pixel_unshuffle(self.conv(x), 2) + avg_channels(F.pixel_unshuffle(x, 2), self.g)


class Up(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv = nn.Conv2d(cin, 4 * cout, 3, padding=1)
        self.r = 4 * cout // cin

    def forward(self, x):
        return F.pixel_shuffle(self.conv(x), 2) + F.pixel_shuffle(dup_channels(x, self.r), 2)


AE_CH = (16, 32, 64, 128)
LATENT_CH = 32


class Encoder(nn.Module):
    def __init__(self, ch=AE_CH, zc=LATENT_CH):
        super().__init__()
        self.conv_in = nn.Conv2d(48, ch[0], 3, padding=1)
        layers = []
        for i, c in enumerate(ch):
            if i > 0:
                layers.append(Down(ch[i - 1], c))
            layers.append(ResBlock(c))
        self.stages = nn.Sequential(*layers)
        self.norm_out = nn.GroupNorm(8, ch[-1])
        self.conv_out = nn.Conv2d(ch[-1], zc, 3, padding=1)
        self.g = ch[-1] // zc

    def forward(self, img):
        x = self.stages(self.conv_in(F.pixel_unshuffle(img, 4)))
        return self.conv_out(F.silu(self.norm_out(x))) + avg_channels(x, self.g)


class Decoder(nn.Module):
    def __init__(self, ch=AE_CH, zc=LATENT_CH):
        super().__init__()
        ch = list(reversed(ch))
        self.conv_in = nn.Conv2d(zc, ch[0], 3, padding=1)
        self.r = ch[0] // zc
        layers = []
        for i, c in enumerate(ch):
            if i > 0:
                layers.append(Up(ch[i - 1], c))
            layers.append(ResBlock(c))
        self.stages = nn.Sequential(*layers)
        self.norm_out = nn.GroupNorm(8, ch[-1])
        self.conv_out = nn.Conv2d(ch[-1], 48, 3, padding=1)

    def forward(self, z):
        x = self.conv_in(z) + dup_channels(z, self.r)
        x = self.stages(x)
        return F.pixel_shuffle(self.conv_out(F.silu(self.norm_out(x))), 4)


class AutoEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = Encoder()
        self.decoder = Decoder()


# ----------------------------------------------------------------------------------------------------------------
# Text encoder: word embedding + learned positions, pre-LN transformer layers with a key-padding mask.

TEXT_DIM = 128


class TextLayer(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.ln2 = nn.LayerNorm(d)
        self.ff1 = nn.Linear(d, 4 * d)
        self.ff2 = nn.Linear(4 * d, d)

    def forward(self, x, bias):
        b, n, d = x.shape
        h = self.heads
        q, k, v = self.qkv(self.ln1(x)).reshape(b, n, 3, h, d // h).permute(2, 0, 3, 1, 4)
        a = torch.softmax(q @ k.transpose(2, 3) * (d // h) ** -0.5 + bias, dim=-1)
        x = x + self.proj((a @ v).transpose(1, 2).reshape(b, n, d))
        return x + self.ff2(F.gelu(self.ff1(self.ln2(x))))


class TextEncoder(nn.Module):
    def __init__(self, vocab=VOCAB_SIZE, d=TEXT_DIM, layers=2, heads=4, max_len=MAX_LEN):
        super().__init__()
        self.tok = nn.Embedding(vocab, d)
        self.pos = nn.Embedding(max_len, d)
        self.layers = nn.ModuleList([TextLayer(d, heads) for _ in range(layers)])
        self.ln = nn.LayerNorm(d)
        # unit-scale embeddings: with GPT-style std 0.02 the token identity drowned in the residual stream and the
        # jointly trained encoder gave 'left' and 'right' almost the same output (position accuracy ~40 %)
        nn.init.normal_(self.tok.weight, std=1.0)
        nn.init.normal_(self.pos.weight, std=1.0)

    def forward(self, input_ids, attention_mask):
        pos_ids = torch.cumsum(torch.ones_like(input_ids), 1) - 1
        x = self.tok(input_ids) + self.pos(pos_ids)
        bias = ((attention_mask.to(x.dtype) - 1.0) * 1e4)[:, None, None, :]
        for layer in self.layers:
            x = layer(x, bias)
        return self.ln(x)


# ----------------------------------------------------------------------------------------------------------------
# Sana DiT: patch size 1, fixed 2D sin-cos PE, ReLU linear self-attention, masked cross-attention, Mix-FFN
# (GLUMBConv), adaLN-single. Follows diffusers' SanaTransformer2DModel / SanaTransformerBlock.

def sincos_1d(pos, dim):
    """pos [N] float -> [N, dim] (sin | cos), omega = 1/10000^(i/(dim/2))."""
    half = dim // 2
    omega = 1.0 / (10000.0 ** (torch.arange(half, dtype=torch.float32) / half))
    out = pos[:, None] * omega[None, :]
    return torch.cat([torch.sin(out), torch.cos(out)], dim=1)


def pos_embed_2d(x, dim):
    """Fixed 2D sin-cos embedding for the h*w tokens of x [B,C,h,w], row-major; computed from x's shape so the
    exported graph works at any latent size."""
    row = torch.cumsum(torch.ones_like(x[0, 0, :, 0]), 0) - 1.0  # [h]
    col = torch.cumsum(torch.ones_like(x[0, 0, 0, :]), 0) - 1.0  # [w]
    gy = (row[:, None] + 0.0 * col[None, :]).reshape(-1)
    gx = (0.0 * row[:, None] + col[None, :]).reshape(-1)
    return torch.cat([sincos_1d(gy, dim // 2), sincos_1d(gx, dim // 2)], dim=1)  # [h*w, dim]


def timestep_embedding(t, dim=256):
    """diffusers Timesteps(dim, flip_sin_to_cos=True, downscale_freq_shift=0): [cos | sin] of t * 10000^-(i/half)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
    args = t[:, None].float() * freqs[None, :]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=1)


class LiteLA(nn.Module):
    """ReLU linear attention: out = relu(q) (relu(k)^T v) / (relu(q) . sum relu(k) + eps), per head."""

    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(d, d, bias=False)
        self.k = nn.Linear(d, d, bias=False)
        self.v = nn.Linear(d, d, bias=False)
        self.out = nn.Linear(d, d)

    def forward(self, x):
        b, n, d = x.shape
        h = self.heads
        q = F.relu(self.q(x)).reshape(b, n, h, d // h).transpose(1, 2)  # B,h,N,dh
        k = F.relu(self.k(x)).reshape(b, n, h, d // h).transpose(1, 2)
        v = self.v(x).reshape(b, n, h, d // h).transpose(1, 2)
        kv = k.transpose(2, 3) @ v  # B,h,dh,dh
        num = q @ kv  # B,h,N,dh
        den = q @ k.sum(2, keepdim=True).transpose(2, 3)  # B,h,N,1
        o = num / (den + 1e-6)
        return self.out(o.transpose(1, 2).reshape(b, n, d))


class CrossAttention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(d, d)
        self.k = nn.Linear(d, d)
        self.v = nn.Linear(d, d)
        self.out = nn.Linear(d, d)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x, y, bias):
        b, n, d = x.shape
        m = y.shape[1]
        h = self.heads
        q = self.q(x).reshape(b, n, h, d // h).transpose(1, 2)
        k = self.k(y).reshape(b, m, h, d // h).transpose(1, 2)
        v = self.v(y).reshape(b, m, h, d // h).transpose(1, 2)
        a = torch.softmax(q @ k.transpose(2, 3) * (d // h) ** -0.5 + bias, dim=-1)
        return self.out((a @ v).transpose(1, 2).reshape(b, n, d))


class MixFFN(nn.Module):
    """GLUMBConv: 1x1 conv d -> 2*hid + SiLU, depthwise 3x3, GLU (a * silu(g)), 1x1 conv hid -> d (no bias)."""

    def __init__(self, d, ratio=2.5):
        super().__init__()
        hid = int(d * ratio)
        self.inverted = nn.Conv2d(d, 2 * hid, 1)
        self.depth = nn.Conv2d(2 * hid, 2 * hid, 3, padding=1, groups=2 * hid)
        self.point = nn.Conv2d(hid, d, 1, bias=False)
        self.hid = hid

    def forward(self, x, h, w):
        b, n, d = x.shape
        x = x.transpose(1, 2).reshape(b, d, h, w)
        x = self.depth(F.silu(self.inverted(x)))
        a, g = x[:, :self.hid], x[:, self.hid:]
        x = self.point(a * F.silu(g))
        return x.reshape(b, d, n).transpose(1, 2)


class SanaBlock(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.norm1 = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.attn1 = LiteLA(d, heads)
        self.attn2 = CrossAttention(d, heads)
        self.norm2 = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.ff = MixFFN(d)
        self.scale_shift_table = nn.Parameter(torch.randn(6, d) / d ** 0.5)

    def forward(self, x, y, bias, t6, h, w):
        b, n, d = x.shape
        mod = self.scale_shift_table[None] + t6.reshape(b, 6, d)
        sh1, sc1, g1, sh2, sc2, g2 = [mod[:, i:i + 1] for i in range(6)]
        x = x + g1 * self.attn1(self.norm1(x) * (1 + sc1) + sh1)
        x = x + self.attn2(x, y, bias)
        x = x + g2 * self.ff(self.norm2(x) * (1 + sc2) + sh2, h, w)
        return x


class RMSNorm(nn.Module):
    def __init__(self, d, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class SanaDiT(nn.Module):
    def __init__(self, d=160, depth=6, heads=5, in_ch=LATENT_CH, caption_dim=TEXT_DIM):
        super().__init__()
        self.d = d
        self.patch = nn.Conv2d(in_ch, d, 1)
        self.t_mlp = nn.Sequential(nn.Linear(256, d), nn.SiLU(), nn.Linear(d, d))
        self.t_block = nn.Sequential(nn.SiLU(), nn.Linear(d, 6 * d))
        self.caption = nn.Sequential(nn.Linear(caption_dim, d), nn.GELU(approximate='tanh'), nn.Linear(d, d))
        self.caption_norm = RMSNorm(d)
        self.blocks = nn.ModuleList([SanaBlock(d, heads) for _ in range(depth)])
        self.norm_out = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.final_table = nn.Parameter(torch.randn(2, d) / d ** 0.5)
        self.proj_out = nn.Linear(d, in_ch)
        nn.init.zeros_(self.proj_out.weight)
        nn.init.zeros_(self.proj_out.bias)

    def forward(self, hidden_states, encoder_hidden_states, encoder_attention_mask, timestep):
        b, c, h, w = hidden_states.shape
        x = self.patch(hidden_states).flatten(2).transpose(1, 2)  # B,N,d
        x = x + pos_embed_2d(hidden_states, self.d)[None]
        emb = self.t_mlp(timestep_embedding(timestep))
        t6 = self.t_block(emb)
        y = self.caption_norm(self.caption(encoder_hidden_states))
        bias = ((encoder_attention_mask.to(x.dtype) - 1.0) * 1e4)[:, None, None, :]
        for blk in self.blocks:
            x = blk(x, y, bias, t6, h, w)
        mod = self.final_table[None] + emb[:, None]
        x = self.norm_out(x) * (1 + mod[:, 1:2]) + mod[:, 0:1]
        x = self.proj_out(x)  # B,N,C
        return x.transpose(1, 2).reshape(b, c, h, w)


class T2I(nn.Module):
    """Text encoder + DiT, trained jointly."""

    def __init__(self, d=160, depth=6, heads=5):
        super().__init__()
        self.text = TextEncoder()
        self.dit = SanaDiT(d=d, depth=depth, heads=heads)

    def forward(self, x, t1000, ids, mask):
        y = self.text(ids, mask)
        return self.dit(x, y, mask.float(), t1000)


def n_params(m):
    return sum(p.numel() for p in m.parameters())


# ----------------------------------------------------------------------------------------------------------------
# Schedulers, as the engine (nodes/schedules.ts, a port of diffusers) runs them.

def _f32(v):
    return float(np.float32(v))


def flow_euler_schedule(steps, shift, n=1000):
    def shift32(s):
        num = _f32(_f32(shift) * s)
        den = _f32(1 + _f32(_f32(shift - 1) * s))
        return _f32(num / den)

    smax, smin = shift32(_f32(1.0)), shift32(_f32(1.0 / n))
    ts = np.linspace(smax * n, smin * n, steps)
    sig = [_f32((shift * (t / n)) / (1 + (shift - 1) * (t / n))) for t in ts]
    return sig + [0.0], [_f32(s * n) for s in sig]


def flow_dpm_schedule(steps, shift, n=1000):
    alphas = np.linspace(1, 1 / n, steps + 1)
    sh = [(shift * (1 - a)) / (1 + (shift - 1) * (1 - a)) for a in alphas][::-1][:steps]
    return [_f32(s) for s in sh] + [0.0], [float(math.trunc(s * n)) for s in sh]


def _lam(s):
    return np.float32(np.log(np.float32(1 - s))) - np.float32(np.log(np.float32(s)))


@torch.no_grad()
def sample(model, texts, seeds, scheduler=DEFAULT_SCHEDULER, steps=20, cfg=4.5, shift=DEFAULT_SHIFT, latent_hw=(4, 4)):
    """Returns latents (DiT space) for the prompts; noise = torch.randn(seed) per prompt, as LatentInit does."""
    model.eval()
    ids, mask = tokenize_batch(texts)
    y = model.text(ids, mask)
    m = mask.float()
    guided = cfg > 1
    if guided:
        uids, umask = tokenize_batch([''] * len(texts))
        y = torch.cat([model.text(uids, umask), y])
        m = torch.cat([umask.float(), m])
    x = torch.cat([torch.randn((1, LATENT_CH) + tuple(latent_hw), generator=torch.Generator().manual_seed(int(s)))
                   for s in seeds])
    if scheduler == 'flow_euler':
        sigmas, timesteps = flow_euler_schedule(steps, shift)
    else:
        sigmas, timesteps = flow_dpm_schedule(steps, shift)
    prev_x0 = None
    for i, ts in enumerate(timesteps):
        xin = torch.cat([x, x]) if guided else x
        v = model.dit(xin, y, m, torch.full((xin.shape[0],), ts, dtype=torch.float32))
        if guided:
            vu, vc = v.chunk(2)
            v = vu + cfg * (vc - vu)
        s, sn = sigmas[i], sigmas[i + 1]
        if scheduler == 'flow_euler':
            x = x + (sn - s) * v
            continue
        x0 = x - s * v
        hh = _lam(sn) - _lam(s) if sn > 0 else np.float32(np.inf)
        a, bcoef = sn / s, (1 - sn) * (math.exp(-hh) - 1)
        x = a * x - bcoef * x0
        if prev_x0 is not None and i < steps - 1:  # second order: the midpoint correction from the previous x0
            r0 = (_lam(s) - _lam(sigmas[i - 1])) / hh
            x = x - 0.5 * bcoef * (1 / r0) * (x0 - prev_x0)
        prev_x0 = x0
    return x


def from_uint8(imgs):
    """uint8 [B,H,W,3] -> float [B,3,H,W] in [-1,1] (the inverse of to_uint8 up to rounding)."""
    return torch.from_numpy(imgs).permute(0, 3, 1, 2).float() / 127.5 - 1


def to_uint8(img):
    """[B,3,H,W] in [-1,1] -> uint8 [B,H,W,3], as the engine: round(clamp(x/2+0.5,0,1)*255)."""
    x = ((img / 2 + 0.5).clamp(0, 1) * 255).round().to(torch.uint8)
    return x.permute(0, 2, 3, 1).numpy()


def save_grid(path, images, cols):
    from PIL import Image
    n = len(images)
    rows = (n + cols - 1) // cols
    h, w = images.shape[1:3]
    grid = np.full((rows * (h + 2), cols * (w + 2), 3), 128, np.uint8)
    for i, im in enumerate(images):
        r, c = divmod(i, cols)
        grid[r * (h + 2):r * (h + 2) + h, c * (w + 2):c * (w + 2) + w] = im
    Image.fromarray(grid).save(path)


def setup_torch(seed):
    torch.set_num_threads(int(os.environ.get('OMP_NUM_THREADS', '2')))
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)


def load_trained(work):
    """The trained text-to-image model (EMA weights) and autoencoder from a work folder, in eval mode,
    with the latent scaling factor."""
    ckpt = torch.load(os.path.join(work, 't2i.pt'))
    model = T2I(**ckpt['config'])
    model.load_state_dict(ckpt['ema'])
    ae = AutoEncoder()
    ae.load_state_dict(torch.load(os.path.join(work, 'ae.pt')))
    return model.eval(), ae.eval(), float(ckpt['scaling_factor'])
