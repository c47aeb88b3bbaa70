"""A deterministic synthetic ATM-booth scenario: frames that look enough like a camera view for a
classical pipeline, plus ground-truth events computed from the very timeline that draws them.

Used by `python run.py demo` (the whole cascade with no camera or data set) and by the tests.

    sc = booth_scenario()              # 320x240, 15 fps, 788 frames (52.5 s)
    for i, bgr in enumerate(sc.frames()):
        ...
    sc.truth                           # [TruthEvent('crowding', ...), ...]
    sc.phases                          # [('empty', 0, 59), ('a_enters', 60, 97), ...]
    sc.write_video("booth.avi")        # MJPG (.avi) or mp4v (.mp4), for a real file source

Frame numbers are 0-based and `end_frame` is inclusive (the last frame of the event or phase), so
every frame number lies in [0, n_frames).

The scene is drawn in a 320x240 reference frame and scaled: positions by width/320 and height/240,
people and the bag by height/240 (the bag is a tenth of the frame width).  Nothing is kept per frame
except a few numbers (positions, arm poses); each frame is drawn on a copy of a pre-rendered
background, so generating all frames takes a few tenths of a second at 320x240.  Sensor noise
(Gaussian, sigma 2 grey levels) and a +-1 level global flicker are drawn from a generator seeded by
(seed, frame index), so `frames()` and `frame(i)` give identical images on every call.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Iterator

import cv2
import numpy as np

__all__ = ["TruthEvent", "Scenario", "booth_scenario", "TIMELINE", "ATM_STATES", "LOITER_AFTER_S"]

REF_W, REF_H = 320, 240

# -- the timeline, in seconds ------------------------------------------------------------------
# (phase name, duration).  Frame boundaries are the rounded cumulative times, so the phases tile
# [0, n_frames) exactly at any fps.
TIMELINE: tuple[tuple[str, float], ...] = (
    ("empty", 4.0),           # static booth: the background must be learnt
    ("s_enters", 2.0),        # a visitor S walks in to the ATM
    ("s_fits", 4.0),          # S fits an overlay on the card slot (half-way through), hands at the slot
    ("s_leaves", 2.0),        # S walks out; the overlay stays until the end
    ("s_gone", 3.0),          # empty booth, a skimmer on the card slot
    ("m_enters", 2.0),        # a visitor M in a balaclava walks in to the ATM
    ("m_at_atm", 8.0),        # M at the keypad (the ATM at its PIN prompt), face covered throughout
    ("m_leaves", 2.0),        # M walks out
    ("m_gone", 3.0),          # empty booth
    ("l_enters", 2.0),        # a person L walks in and stops in the middle of the booth
    ("l_waits", 12.0),        # L stays, fidgeting, never using the ATM (idle)
    ("l_leaves", 2.0),        # L walks out
    ("l_gone", 3.0),          # empty booth
    ("a_enters", 2.5),        # person A walks in through the door to the ATM
    ("a_at_atm", 8.0),        # A uses the keypad (arm moving, slight sway)
    ("b_enters", 2.0),        # person B walks in and stops behind A, who is still entering the PIN
    ("crowding", 5.0),        # A at the ATM, B watching from behind: two separate blobs
    ("scuffle", 4.0),         # A and B fight: fast erratic motion, flailing arms, overlaps
    ("b_leaves", 1.5),        # B runs out through the door; A steps back in front of the ATM
    ("bag_drop", 1.5),        # A crouches and puts the bag on the floor
    ("a_leaves", 2.5),        # A walks out of the door; the bag stays
    ("unattended_bag", 6.0),  # empty booth with the bag
    ("cover_slides", 0.5),    # a dark patch slides over the lens from the top
    ("covered", 4.0),         # lens fully covered until the end
)

# -- scene layout, in reference pixels (320x240) -------------------------------------------------
FLOOR_Y = 149                    # wall / floor boundary
DOOR = (0, 24, 48, 226)          # door opening x0, y0, x1, y1 (left edge of the picture)
DOOR_POST = 8                    # width of the door frame
ATM = (237, 54, 298, 178)        # ATM box x0, y0, x1, y1 (stands against the wall, on the floor)
KEYPAD = (249, 119, 273, 138)    # keypad rectangle on the ATM front
CARD_SLOT = (278, 122, 290, 126)  # card slot on the ATM front
SKIMMER = (275, 117, 293, 131)   # the overlay S fits over the card slot
FASCIA = (244, 110, 296, 144)    # the region a site would configure as skimming.roi (keypad and card slot)
A_AT_ATM = (220.0, 214.0)        # A's feet while using the ATM
B_WAITING = (148.0, 202.0)       # B's feet while waiting behind A
A_FIGHT = (197.0, 209.0)         # centres of the scuffle
B_FIGHT = (165.0, 205.0)
OUTSIDE_X = -50.0                # feet x of somebody outside the door
BAG_GAP = 16.0                   # bag's left edge, right of A's feet (reference px)
L_WAITING = (140.0, 206.0)       # L's feet while loitering

# The demo's loitering limit (`loitering.after_s`): the booth default (120 s) would make the scenario
# minutes long, so the demo runs with this and L stays longer than it.
LOITER_AFTER_S = 10.0

# The ATM's state per phase, as the state reader would report it (phases not listed: idle).
ATM_STATES = {"m_at_atm": "pin_entry", "a_at_atm": "pin_entry", "b_enters": "pin_entry",
              "crowding": "pin_entry", "scuffle": "transaction", "b_leaves": "transaction",
              "bag_drop": "transaction", "a_leaves": "card_ejected"}

SENSOR_SIGMA = 2.0
_NOISE_BANK = 6
_NOISE_MARGIN = 32


@dataclass(frozen=True)
class TruthEvent:
    """A ground-truth event: frames [start_frame, end_frame] inclusive, bbox (x, y, w, h) or None."""

    type: str
    start_frame: int
    end_frame: int
    bbox: tuple[int, int, int, int] | None


@dataclass(frozen=True)
class _Look:
    height: float                    # body height in reference px
    jacket: tuple[int, int, int]     # BGR
    jacket2: tuple[int, int, int]    # pattern colour
    pattern: str                     # "stripes" or "check"
    trousers: tuple[int, int, int]
    skin: tuple[int, int, int] = (95, 135, 190)
    hair: tuple[int, int, int] = (30, 35, 40)
    shoes: tuple[int, int, int] = (25, 25, 28)
    covering: tuple[int, int, int] | None = None   # a balaclava of this colour over all but the eyes


_LOOK_A = _Look(108.0, (115, 55, 30), (150, 92, 62), "stripes", (45, 45, 50))    # navy, grey ~54
_LOOK_B = _Look(114.0, (45, 40, 150), (28, 24, 105), "check", (95, 78, 62))     # maroon, grey ~73
_LOOK_M = _Look(110.0, (48, 48, 52), (70, 70, 76), "stripes", (40, 40, 45), covering=(30, 30, 34))
_LOOK_L = _Look(104.0, (60, 115, 65), (40, 85, 45), "check", (100, 85, 70))      # green
_LOOK_S = _Look(107.0, (70, 100, 125), (50, 75, 95), "stripes", (60, 60, 64))     # brown
_BAG_COLOUR = (28, 34, 44)          # dark brown, grey ~35 on a floor of ~140


@dataclass
class _Person:
    """One person in one frame, in pixels: feet centre, leg spread and crouch in [0, 1], hand
    offsets from the left and right shoulders, and where a carried bag is (top-left) if any."""

    look: int
    x: float
    y: float
    spread: float
    crouch: float
    lhand: tuple[float, float]
    rhand: tuple[float, float]
    bag_xy: tuple[float, float] | None = None


@dataclass
class _FrameState:
    people: list[_Person]
    bag_floor: tuple[int, int] | None   # top-left of the bag on the floor
    cover: float                        # 0 = no cover, 1 = fully covered (fraction slid in)
    skimmer: bool = False               # the overlay is on the card slot


@dataclass
class _Sprite:
    img: np.ndarray
    mask: np.ndarray          # bool (h, w)
    ox: int                   # feet centre inside the sprite
    oy: int
    bbox: tuple[int, int, int, int]   # tight x0, y0, x1, y1 (exclusive) relative to the feet
    lshoulder: tuple[int, int]        # relative to the feet
    rshoulder: tuple[int, int]


class _Plan:
    """Everything `frames()` needs: background, cover, sprites, noise banks and per-frame states."""

    def __init__(self, width: int, height: int, fps: float, seed: int):
        self.w, self.h, self.fps, self.seed = width, height, fps, seed
        self.sx, self.sy = width / REF_W, height / REF_H
        self.s = self.sy                          # scale of people
        rng = np.random.default_rng([seed, 1])
        self.bg = _render_background(width, height, rng)
        self.cover_img = _render_cover(width, height, rng)
        self.bg_skimmer = _with_skimmer(self.bg)
        self.looks = (_LOOK_A, _LOOK_B, _LOOK_M, _LOOK_L, _LOOK_S)
        self.textures = [_make_texture(lk, self.s, rng) for lk in self.looks]
        self._sprites: dict[tuple[int, int, int], _Sprite] = {}
        self.bag_w = max(6, int(round(0.10 * width)))
        self.bag_h = max(4, int(round(0.62 * self.bag_w)))
        self.arm_t = [max(2, int(round(0.06 * lk.height * self.s))) for lk in self.looks]
        self.hand_r = [max(2, int(round(0.035 * lk.height * self.s))) for lk in self.looks]
        nb = rng.standard_normal((_NOISE_BANK, height + _NOISE_MARGIN, width + _NOISE_MARGIN, 3),
                                 dtype=np.float32) * SENSOR_SIGMA
        nb = np.clip(np.rint(nb), -4 * SENSOR_SIGMA, 4 * SENSOR_SIGMA).astype(np.int16)
        self.noise_pos = np.clip(nb, 0, None).astype(np.uint8)
        self.noise_neg = np.clip(-nb, 0, None).astype(np.uint8)
        self.bounds = _phase_bounds(fps)
        self.n_frames = self.bounds[-1][2] + 1
        self.states = self._build_states(np.random.default_rng([seed, 2]))

    # -- geometry helpers ------------------------------------------------------------------------
    def px(self, x: float, y: float) -> tuple[float, float]:
        return x * self.sx, y * self.sy

    def phase(self, name: str) -> tuple[int, int]:
        for n, a, b in self.bounds:
            if n == name:
                return a, b
        raise KeyError(name)

    def sprite(self, look: int, spread: float, crouch: float) -> _Sprite:
        key = (look, int(round(min(max(spread, 0.0), 1.0) * 2)), int(round(min(max(crouch, 0.0), 1.0) * 4)))
        sp = self._sprites.get(key)
        if sp is None:
            sp = _make_sprite(self.looks[look], self.textures[look], self.s, key[1] / 2.0, key[2] / 4.0)
            self._sprites[key] = sp
        return sp

    def shoulders(self, p: _Person) -> tuple[tuple[int, int], tuple[int, int]]:
        sp = self.sprite(p.look, p.spread, p.crouch)
        X, Y = int(round(p.x)), int(round(p.y))
        return ((X + sp.lshoulder[0], Y + sp.lshoulder[1]), (X + sp.rshoulder[0], Y + sp.rshoulder[1]))

    def hands(self, p: _Person) -> tuple[tuple[int, int], tuple[int, int]]:
        ls, rs = self.shoulders(p)
        return ((int(round(ls[0] + p.lhand[0])), int(round(ls[1] + p.lhand[1]))),
                (int(round(rs[0] + p.rhand[0])), int(round(rs[1] + p.rhand[1]))))

    def person_box(self, p: _Person) -> tuple[int, int, int, int]:
        """Unclipped x0, y0, x1, y1 (exclusive) of everything drawn for `p`."""
        sp = self.sprite(p.look, p.spread, p.crouch)
        X, Y = int(round(p.x)), int(round(p.y))
        x0, y0, x1, y1 = X + sp.bbox[0], Y + sp.bbox[1], X + sp.bbox[2], Y + sp.bbox[3]
        pad = self.arm_t[p.look] // 2 + 2
        hr = self.hand_r[p.look] + 2
        for (sxp, syp), (hx, hy) in zip(self.shoulders(p), self.hands(p)):
            x0, y0 = min(x0, sxp - pad, hx - hr), min(y0, syp - pad, hy - hr)
            x1, y1 = max(x1, sxp + pad + 1, hx + hr + 1), max(y1, syp + pad + 1, hy + hr + 1)
        if p.bag_xy is not None:
            bx, by = int(round(p.bag_xy[0])), int(round(p.bag_xy[1]))
            x0, y0 = min(x0, bx), min(y0, by)
            x1, y1 = max(x1, bx + self.bag_w), max(y1, by + self.bag_h)
        return x0, y0, x1, y1

    def clip(self, box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
        x0, y0, x1, y1 = box
        return max(0, x0), max(0, y0), min(self.w, x1), min(self.h, y1)

    def inside_fraction(self, box: tuple[int, int, int, int]) -> float:
        x0, y0, x1, y1 = box
        cx0, cy0, cx1, cy1 = self.clip(box)
        full = max(0, x1 - x0) * max(0, y1 - y0)
        part = max(0, cx1 - cx0) * max(0, cy1 - cy0)
        return part / full if full else 0.0

    def covered_fraction(self, cover: float) -> float:
        """Fraction of rows at least half covered by a cover slid in by `cover` (see _apply_cover)."""
        if cover <= 0.0:
            return 0.0
        if cover >= 1.0:
            return 1.0
        ramp = 0.1 * self.h
        edge = cover * (self.h + ramp) - ramp / 2.0
        return 0.0 if edge < 0 else min(self.h, math.floor(edge) + 1) / self.h

    # -- the timeline ----------------------------------------------------------------------------
    def _build_states(self, rng: np.random.Generator) -> list[_FrameState]:
        fps, s = self.fps, self.s
        states: list[_FrameState] = []
        a_atm, b_wait = self.px(*A_AT_ATM), self.px(*B_WAITING)
        a_fight, b_fight = self.px(*A_FIGHT), self.px(*B_FIGHT)
        outside_x = OUTSIDE_X * self.sx
        kp = KEYPAD
        keypad = self.px((kp[0] + kp[2]) / 2.0, (kp[1] + kp[3]) / 2.0)
        bag_floor = (int(round(a_atm[0] + BAG_GAP * s)), int(round(a_atm[1] + 2 * s)) - self.bag_h)
        la, lb = _LOOK_A.height * s, _LOOK_B.height * s
        arm_a, arm_b = 0.33 * la, 0.33 * lb
        arm_m, arm_l = 0.33 * _LOOK_M.height * s, 0.33 * _LOOK_L.height * s
        l_wait = self.px(*L_WAITING)

        def hanging(arm, ang_l, ang_r):
            al, ar = math.radians(ang_l), math.radians(ang_r)
            return (-arm * math.sin(al), arm * math.cos(al)), (arm * math.sin(ar), arm * math.cos(ar))

        def held_bag(p: _Person) -> tuple[float, float]:
            c = p.crouch * 0.14 * la
            return p.x + 0.08 * la, p.y - 0.52 * la + c

        def walker(look, x, y, t, speed_hz, arm, swing):
            ph = math.sin(2 * math.pi * speed_hz * t)
            spread = abs(ph)
            lh, rh = hanging(arm, 8 + swing * ph, 8 - swing * ph)
            return _Person(look, x, y - abs(ph) * 1.0 * s, spread, 0.0, lh, rh)

        slot = self.px((CARD_SLOT[0] + CARD_SLOT[2]) / 2.0, (CARD_SLOT[1] + CARD_SLOT[3]) / 2.0)

        def a_using_atm(t, look=0, target=keypad):
            x = a_atm[0] + 1.2 * s * math.sin(2 * math.pi * 0.25 * t) + rng.normal(0, 0.25 * s)
            p = _Person(look, x, a_atm[1], 0.0, 0.0, (0.0, 0.0), (0.0, 0.0))
            ls, rs = self.shoulders(p)
            tx = target[0] + 4 * s * math.sin(2 * math.pi * 1.7 * t) + rng.normal(0, 0.8 * s)
            ty = target[1] + 3 * s * math.sin(2 * math.pi * 2.3 * t + 1.0) + rng.normal(0, 0.8 * s)
            dx, dy = tx - rs[0], ty - rs[1]
            d = math.hypot(dx, dy)
            if d > arm_a:
                dx, dy = dx * arm_a / d, dy * arm_a / d
            p.rhand = (dx, dy)
            p.lhand = hanging(arm_a, 6 + 3 * math.sin(2 * math.pi * 0.4 * t), 0)[0]
            if look == 0:
                p.bag_xy = held_bag(p)
            return p

        def l_waiting(t):
            # Fidgeting: weight shifts, a step to and fro, hands in motion (people waiting do not stand still).
            x = l_wait[0] + 3.0 * s * math.sin(2 * math.pi * 0.3 * t) + rng.normal(0, 0.3 * s)
            shift = 0.5 if math.sin(2 * math.pi * 0.2 * t) > 0.5 else 0.0
            lh, rh = hanging(arm_l, 10 + 12 * math.sin(2 * math.pi * 0.7 * t),
                             10 + 12 * math.sin(2 * math.pi * 0.5 * t + 1))
            return _Person(3, x, l_wait[1], shift, 0.0, lh, rh)

        def b_waiting(t):
            x = b_wait[0] + 0.9 * s * math.sin(2 * math.pi * 0.2 * t + 0.5) + rng.normal(0, 0.25 * s)
            shift = 0.5 if math.sin(2 * math.pi * 0.15 * t) > 0.6 else 0.0
            lh, rh = hanging(arm_b, 7 + 4 * math.sin(2 * math.pi * 0.5 * t),
                             7 + 4 * math.sin(2 * math.pi * 0.6 * t + 2))
            return _Person(1, x, b_wait[1], shift, 0.0, lh, rh)

        def lerp(a, b, u):
            return a + (b - a) * u

        fight_arms = {0: [(40.0, 40.0)], 1: [(40.0, 40.0)]}
        last = {}
        skimmer = False
        arm_s = 0.33 * _LOOK_S.height * s
        for name, start, end in self.bounds:
            n = end - start + 1
            for i in range(start, end + 1):
                k = i - start
                t = k / fps
                u = (k + 1) / n                     # reaches 1 on the phase's last frame
                people: list[_Person] = []
                bag = None
                cover = 0.0
                if name == "s_enters":
                    people.append(walker(4, lerp(outside_x, a_atm[0], u), a_atm[1], t, 1.8, arm_s, 25))
                elif name == "s_fits":
                    people.append(a_using_atm(t, look=4, target=slot))
                    skimmer = skimmer or u >= 0.5
                elif name == "s_leaves":
                    people.append(walker(4, lerp(a_atm[0], outside_x, u), a_atm[1], t, 1.8, arm_s, 25))
                elif name == "m_enters":
                    people.append(walker(2, lerp(outside_x, a_atm[0], u), a_atm[1], t, 1.8, arm_m, 25))
                elif name == "m_at_atm":
                    people.append(a_using_atm(t, look=2))
                elif name == "m_leaves":
                    people.append(walker(2, lerp(a_atm[0], outside_x, u), a_atm[1], t, 1.8, arm_m, 25))
                elif name == "l_enters":
                    people.append(walker(3, lerp(outside_x, l_wait[0], u), l_wait[1], t, 1.7, arm_l, 25))
                elif name == "l_waits":
                    people.append(l_waiting(t))
                elif name == "l_leaves":
                    people.append(walker(3, lerp(l_wait[0], outside_x, u), l_wait[1], t, 1.7, arm_l, 25))
                elif name == "a_enters":
                    x = lerp(outside_x, a_atm[0], u)
                    p = walker(0, x, a_atm[1], t, 1.8, arm_a, 25)
                    p.bag_xy = held_bag(p)
                    people.append(p)
                elif name == "a_at_atm":
                    people.append(a_using_atm(t))
                elif name == "b_enters":
                    people.append(a_using_atm(t + 8.0))
                    x = lerp(outside_x, b_wait[0], min(1.0, u / 0.9))
                    b = walker(1, x, b_wait[1], t, 1.9, arm_b, 25) if u < 0.9 else b_waiting(t)
                    people.append(b)
                elif name == "crowding":
                    people.append(a_using_atm(t + 10.0))
                    people.append(b_waiting(t + 2.0))
                elif name == "scuffle":
                    w = min(1.0, t / 0.3)
                    for look, (bx, by), (fx, fy), arm, phs in ((0, a_atm, a_fight, arm_a, 0.0),
                                                              (1, b_wait, b_fight, arm_b, 1.3)):
                        sign = 1 if look == 0 else -1
                        cx = lerp(bx, fx + sign * 10 * s * math.sin(2 * math.pi * 1.1 * t + phs), w)
                        cy = lerp(by, fy, w)
                        jx = float(np.clip(rng.normal(0, 4.0 * s), -9 * s, 9 * s))
                        jy = float(np.clip(rng.normal(0, 2.0 * s), -4 * s, 4 * s))
                        pl, pr = fight_arms[look][-1]
                        al = 0.35 * pl + 0.65 * rng.uniform(-40, 170)
                        ar = 0.35 * pr + 0.65 * rng.uniform(-40, 170)
                        fight_arms[look].append((al, ar))
                        lh, rh = hanging(arm * rng.uniform(0.8, 1.0), al, ar)
                        p = _Person(look, cx + w * jx, cy + w * jy, float(rng.choice([0.0, 0.5, 1.0])),
                                    0.0, lh, rh)
                        if look == 0:
                            p.bag_xy = held_bag(p)
                        people.append(p)
                    last = {pp.look: pp for pp in people}
                elif name == "b_leaves":
                    pa = last[0]
                    ua = min(1.0, u / 0.6)
                    if ua < 1.0:
                        p = walker(0, lerp(pa.x, a_atm[0], ua), lerp(pa.y, a_atm[1], ua), t, 1.8, arm_a, 15)
                    else:
                        p = _Person(0, a_atm[0], a_atm[1], 0.0, 0.0, *hanging(arm_a, 6, 6))
                    p.bag_xy = held_bag(p)
                    people.append(p)
                    pb = last[1]
                    people.append(walker(1, lerp(pb.x, outside_x, u), lerp(pb.y, b_wait[1], u),
                                         t, 2.8, arm_b, 40))
                elif name == "bag_drop":
                    crouch = min(1.0, u / 0.4) if u < 0.7 else max(0.0, 1.0 - (u - 0.7) / 0.3)
                    p = _Person(0, a_atm[0], a_atm[1], 0.0, crouch, *hanging(arm_a, 6, 10 + 20 * crouch))
                    if u < 0.2:
                        p.bag_xy = held_bag(p)
                    elif u < 0.6:
                        hb = held_bag(p)
                        v = (u - 0.2) / 0.4
                        p.bag_xy = (lerp(hb[0], bag_floor[0], v), lerp(hb[1], bag_floor[1], v))
                    else:
                        bag = bag_floor
                    people.append(p)
                elif name == "a_leaves":
                    bag = bag_floor
                    p = walker(0, lerp(a_atm[0], outside_x, u), a_atm[1], t, 1.8, arm_a, 25)
                    people.append(p)
                elif name == "unattended_bag":
                    bag = bag_floor
                elif name == "cover_slides":
                    bag = bag_floor
                    cover = u
                elif name == "covered":
                    bag = bag_floor
                    cover = 1.0
                states.append(_FrameState(people, bag, cover, skimmer))
        return states

    def truth(self) -> list[TruthEvent]:
        st = self.states
        ev: list[TruthEvent] = []

        def union(boxes):
            boxes = [self.clip(b) for b in boxes]
            boxes = [b for b in boxes if b[2] > b[0] and b[3] > b[1]]
            if not boxes:
                return None
            x0, y0 = min(b[0] for b in boxes), min(b[1] for b in boxes)
            x1, y1 = max(b[2] for b in boxes), max(b[3] for b in boxes)
            return (x0, y0, x1 - x0, y1 - y0)

        # crowding: both people at least half inside the picture
        two = [i for i, s in enumerate(st)
               if sum(self.inside_fraction(self.person_box(p)) >= 0.5 for p in s.people) >= 2]
        if two:
            a, b = two[0], two[-1]
            assert two == list(range(a, b + 1)), "crowding must be one interval"
            ev.append(TruthEvent("crowding", a, b,
                                 union([self.person_box(p) for i in two for p in st[i].people])))
        # face_covered: M (in a balaclava) anywhere in the picture; loitering: L anywhere in the picture
        for look, type_ in ((2, "face_covered"), (3, "loitering")):
            seen = [i for i, s in enumerate(st) if any(p.look == look and self.inside_fraction(self.person_box(p)) > 0
                                                       for p in s.people)]
            if not seen:
                continue
            ev.append(TruthEvent(type_, seen[0], seen[-1],
                                 union([self.person_box(p) for i in seen for p in st[i].people if p.look == look])))
        # fight: the scuffle phase
        a, b = self.phase("scuffle")
        ev.append(TruthEvent("fight", a, b,
                             union([self.person_box(p) for i in range(a, b + 1) for p in st[i].people])))
        # left_object: the bag on the floor with nobody in the picture, until the cover starts
        cover_start = next(i for i, s in enumerate(st) if s.cover > 0)
        alone = [i for i in range(cover_start) if st[i].bag_floor is not None and
                 all(self.inside_fraction(self.person_box(p)) == 0.0 for p in st[i].people)]
        if alone:
            bx, by = st[alone[0]].bag_floor
            ev.append(TruthEvent("left_object", alone[0], cover_start - 1,
                                 union([(bx, by, bx + self.bag_w, by + self.bag_h)])))
        # skimmer_suspected: the overlay on the card slot with nobody in front of the fascia, until the cover
        fascia = self.clip((*self.px(FASCIA[0], FASCIA[1]), *self.px(FASCIA[2], FASCIA[3])))
        fascia = tuple(int(round(v)) for v in fascia)

        def touches(box) -> bool:
            x0, y0, x1, y1 = self.clip(box)
            return x0 < fascia[2] and fascia[0] < x1 and y0 < fascia[3] and fascia[1] < y1

        left = [i for i in range(cover_start) if st[i].skimmer and not any(touches(self.person_box(p))
                                                                             for p in st[i].people)]
        if left:
            # Everything the overlay changes: its body, its shadow and the optics' blur around them.
            sk = tuple(int(round(v)) for v in (*self.px(SKIMMER[0] - 2, SKIMMER[1] - 2),
                                               *self.px(SKIMMER[2] + 3, SKIMMER[3] + 4)))
            ev.append(TruthEvent("skimmer_suspected", left[0], cover_start - 1,
                                 (sk[0], sk[1], sk[2] - sk[0], sk[3] - sk[1])))
        # shoulder_surfing: B watching from behind while A enters the PIN (the ATM at its PIN prompt)
        a, b = self.phase("crowding")
        if ATM_STATES.get("crowding") == "pin_entry":
            ev.append(TruthEvent("shoulder_surfing", a, b,
                                 union([self.person_box(p) for i in range(a, b + 1) for p in st[i].people])))
        # camera_covered: more than 80 % of the picture covered
        cov = [i for i, s in enumerate(st) if self.covered_fraction(s.cover) > 0.8]
        ev.append(TruthEvent("camera_covered", cov[0], self.n_frames - 1, None))
        ev.sort(key=lambda e: (e.start_frame, e.end_frame))
        return ev

    # -- drawing ---------------------------------------------------------------------------------
    def render(self, i: int) -> np.ndarray:
        st = self.states[i]
        f = (self.bg_skimmer if st.skimmer else self.bg).copy()
        if st.cover < 1.0:
            if st.bag_floor is not None:
                _draw_bag(f, st.bag_floor[0], st.bag_floor[1], self.bag_w, self.bag_h)
            for p in sorted(st.people, key=lambda q: q.y):
                self._draw_person(f, p)
            if st.cover > 0.0:
                f = self._apply_cover(f, st.cover)
        else:
            f = self.cover_img.copy()
        # sensor noise from a bank, at a random offset, plus a global flicker of +-1 level
        r = np.random.default_rng([self.seed, i, 3])
        k = int(r.integers(_NOISE_BANK))
        ox, oy = (int(v) for v in r.integers(0, _NOISE_MARGIN + 1, 2))
        cv2.add(f, self.noise_pos[k, oy:oy + self.h, ox:ox + self.w], dst=f)
        cv2.subtract(f, self.noise_neg[k, oy:oy + self.h, ox:ox + self.w], dst=f)
        flick = int(r.integers(-1, 2))
        if flick > 0:
            cv2.add(f, (1, 1, 1, 0), dst=f)
        elif flick < 0:
            cv2.subtract(f, (1, 1, 1, 0), dst=f)
        return f

    def _draw_person(self, f: np.ndarray, p: _Person) -> None:
        sp = self.sprite(p.look, p.spread, p.crouch)
        X, Y = int(round(p.x)), int(round(p.y))
        x0, y0 = X - sp.ox, Y - sp.oy
        hs, ws = sp.mask.shape
        cx0, cy0 = max(0, x0), max(0, y0)
        cx1, cy1 = min(self.w, x0 + ws), min(self.h, y0 + hs)
        if cx1 > cx0 and cy1 > cy0:
            roi = f[cy0:cy1, cx0:cx1]
            src = sp.img[cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0]
            m = sp.mask[cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0]
            np.copyto(roi, src, where=m[..., None])
        look = self.looks[p.look]
        if p.bag_xy is not None:
            _draw_bag(f, int(round(p.bag_xy[0])), int(round(p.bag_xy[1])), self.bag_w, self.bag_h)
        t, hr = self.arm_t[p.look], self.hand_r[p.look]
        for sh, hd in zip(self.shoulders(p), self.hands(p)):
            cv2.line(f, sh, hd, look.jacket, t, cv2.LINE_AA)
            cv2.circle(f, hd, hr, look.skin, -1, cv2.LINE_AA)

    def _apply_cover(self, f: np.ndarray, cover: float) -> np.ndarray:
        ramp = 0.1 * self.h
        edge = cover * (self.h + ramp) - ramp / 2.0
        rows = np.arange(self.h, dtype=np.float32)
        a = np.clip((edge - rows) / ramp + 0.5, 0.0, 1.0)[:, None, None]
        out = f.astype(np.float32) * (1.0 - a) + self.cover_img.astype(np.float32) * a
        return np.clip(np.rint(out), 0, 255).astype(np.uint8)


# -- the public API ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Scenario:
    """A generated scenario: size, rate, length, ground truth and timeline phases.

    `phases` is [(name, start_frame, end_frame)] with inclusive ends, tiling [0, n_frames).
    """

    width: int
    height: int
    fps: float
    n_frames: int
    truth: list[TruthEvent]
    phases: list[tuple[str, int, int]] = field(default_factory=list)
    seed: int = 0
    _plan: _Plan | None = field(default=None, repr=False, compare=False)

    def frames(self) -> Iterator[np.ndarray]:
        """Yield the n_frames BGR uint8 (height, width, 3) frames; identical on every call."""
        plan = self._require_plan()
        for i in range(self.n_frames):
            yield plan.render(i)

    def frame(self, i: int) -> np.ndarray:
        """Frame `i` alone (the same image `frames()` yields at that position)."""
        if not 0 <= i < self.n_frames:
            raise IndexError(f"frame {i} outside [0, {self.n_frames})")
        return self._require_plan().render(i)

    def fascia_roi(self) -> list[int]:
        """The ATM's keypad and card slot as [x, y, w, h] in this scenario's pixels (`skimming.roi`)."""
        x0, y0 = self._require_plan().px(FASCIA[0], FASCIA[1])
        x1, y1 = self._require_plan().px(FASCIA[2], FASCIA[3])
        return [int(round(x0)), int(round(y0)), int(round(x1 - x0)), int(round(y1 - y0))]

    def background(self, skimmer: bool = False) -> np.ndarray:
        """The empty booth without noise (a copy); with the card-slot overlay fitted if `skimmer`."""
        plan = self._require_plan()
        return (plan.bg_skimmer if skimmer else plan.bg).copy()

    def phase(self, name: str) -> tuple[int, int]:
        """(start_frame, end_frame) of a phase, inclusive."""
        for n, a, b in self.phases:
            if n == name:
                return a, b
        raise KeyError(f"no phase {name!r}; phases are {[p[0] for p in self.phases]}")

    def atm_state(self, i: int) -> str:
        """What the ATM's state reader reports at frame `i` (ATM_STATES; idle otherwise)."""
        for n, a, b in self.phases:
            if a <= i <= b:
                return ATM_STATES.get(n, "idle")
        raise IndexError(f"frame {i} outside [0, {self.n_frames})")

    def events(self, type_: str) -> list[TruthEvent]:
        return [e for e in self.truth if e.type == type_]

    def describe(self) -> str:
        """A few lines: the phases and the truth events, in frames and seconds."""
        lines = [f"synthetic ATM booth {self.width}x{self.height} @ {self.fps:g} fps, "
                 f"{self.n_frames} frames ({self.n_frames / self.fps:.1f} s), seed {self.seed}"]
        for n, a, b in self.phases:
            lines.append(f"  {n:<15} frames {a:4d}-{b:4d}  ({a / self.fps:5.1f}-{(b + 1) / self.fps:5.1f} s)")
        lines.append("  truth:")
        for e in self.truth:
            lines.append(f"    {e.type:<15} frames {e.start_frame:4d}-{e.end_frame:4d}  bbox {e.bbox}")
        return "\n".join(lines)

    def write_video(self, path: str | os.PathLike) -> str:
        """Write the scenario to `path`: MJPG for .avi, mp4v for .mp4.  Returns the path."""
        path = os.fspath(path)
        ext = os.path.splitext(path)[1].lower()
        codec = {".avi": "MJPG", ".mp4": "mp4v"}.get(ext)
        if codec is None:
            raise ValueError(f"unsupported video extension {ext!r} (use .avi or .mp4): {path}")
        parent = os.path.dirname(path)
        if parent:
            os.makedirs(parent, exist_ok=True)
        writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*codec), float(self.fps),
                                 (self.width, self.height))
        if not writer.isOpened():
            raise RuntimeError(f"cannot open a {codec} video writer for {path}")
        try:
            for f in self.frames():
                writer.write(f)
        finally:
            writer.release()
        return path

    def _require_plan(self) -> _Plan:
        if self._plan is None:
            raise RuntimeError("this Scenario has no renderer; make it with booth_scenario()")
        return self._plan


def booth_scenario(width: int = 320, height: int = 240, fps: float = 15.0, seed: int = 0) -> Scenario:
    """The built-in ATM-booth scenario (see the module docstring and TIMELINE)."""
    width, height, fps, seed = int(width), int(height), float(fps), int(seed)
    if width < 96 or height < 72:
        raise ValueError(f"scenario size {width}x{height} is too small (at least 96x72)")
    if not (1.0 <= fps <= 120.0):
        raise ValueError(f"scenario fps {fps} outside [1, 120]")
    plan = _Plan(width, height, fps, seed)
    return Scenario(width=width, height=height, fps=fps, n_frames=plan.n_frames, truth=plan.truth(),
                    phases=list(plan.bounds), seed=seed, _plan=plan)


# -- helpers ---------------------------------------------------------------------------------------

def _round_half_up(v: float) -> int:
    return int(math.floor(v + 0.5))


def _phase_bounds(fps: float) -> list[tuple[str, int, int]]:
    out, t = [], 0.0
    for name, dur in TIMELINE:
        a, b = _round_half_up(t * fps), _round_half_up((t + dur) * fps)
        if b <= a:
            b = a + 1
        out.append((name, a, b - 1))
        t += dur
    # keep the phases contiguous even when a tiny phase was stretched to one frame
    fixed, nxt = [], 0
    for name, a, b in out:
        a2 = nxt
        b2 = max(b, a2)
        fixed.append((name, a2, b2))
        nxt = b2 + 1
    return fixed


def _render_background(W: int, H: int, rng: np.random.Generator) -> np.ndarray:
    sx, sy = W / REF_W, H / REF_H

    def P(x: float, y: float) -> tuple[int, int]:
        return int(round(x * sx)), int(round(y * sy))

    fy = int(round(FLOOR_Y * sy))
    yy = (np.arange(H, dtype=np.float32) / H)[:, None]
    xx = (np.arange(W, dtype=np.float32) / W)[None, :]
    img = np.empty((H, W, 3), np.float32)
    wall = np.array([170, 183, 193], np.float32)
    light = 1.06 - 0.10 * yy - 0.08 * np.abs(xx - 0.55)          # ceiling light in the middle
    img[:fy] = wall * light[:fy, :, None]
    floor = np.array([132, 138, 142], np.float32)
    fl = 0.96 + 0.08 * (yy - FLOOR_Y / REF_H) - 0.05 * np.abs(xx - 0.5)
    img[fy:] = floor * fl[fy:, :, None]
    lowf = cv2.resize(rng.normal(0, 1, (9, 12)).astype(np.float32), (W, H), interpolation=cv2.INTER_CUBIC)
    img += 4.0 * lowf[..., None]
    img = np.clip(img, 0, 255).astype(np.uint8)

    # floor tiles in perspective (vanishing point above the middle of the wall)
    grout = (112, 117, 121)
    vx, vy = 0.5 * W, fy - 0.9 * H
    for k in range(-12, 13):
        xb = 0.5 * W + k * 0.16 * W
        # line from the vanishing point through (xb, H), drawn from the floor line down
        t0 = (fy - vy) / (H - vy)
        cv2.line(img, (int(round(vx + (xb - vx) * t0)), fy), (int(round(xb)), H), grout, 1, cv2.LINE_AA)
    for k in range(1, 7):
        y = int(round(fy + (H - fy) * (k / 6.5) ** 1.5))
        cv2.line(img, (0, y), (W, y), grout, 1, cv2.LINE_AA)
    cv2.rectangle(img, (0, fy - max(1, int(round(4 * sy)))), (W, fy), (92, 98, 104), -1)   # skirting

    # poster on the wall between the door and the ATM
    px0, py0 = P(92, 40)
    px1, py1 = P(150, 100)
    cv2.rectangle(img, (px0, py0), (px1, py1), (205, 216, 226), -1)
    cv2.rectangle(img, (px0, py0), (px1, py1), (120, 125, 130), 1)
    cv2.rectangle(img, P(96, 44), P(146, 58), (60, 120, 200), -1)
    for k in range(4):
        y = 66 + 8 * k
        cv2.line(img, P(98, y), P(144 - 10 * (k % 2), y), (90, 90, 95), max(1, int(round(2 * sy))))
    # security-camera notice
    cv2.rectangle(img, P(178, 60), P(200, 76), (40, 170, 230), -1)
    cv2.circle(img, P(189, 68), max(2, int(round(4 * sy))), (30, 30, 30), -1)

    # door on the left: bright outside, aluminium frame
    d0, d1 = P(DOOR[0], DOOR[1]), P(DOOR[2], DOOR[3])
    outside = np.array([205, 200, 190], np.float32)
    oh = d1[1] - d0[1]
    grad = (1.0 - 0.10 * np.arange(oh, dtype=np.float32) / max(1, oh))[:, None, None]
    img[d0[1]:d1[1], d0[0]:d1[0]] = np.clip(outside * grad, 0, 255).astype(np.uint8)
    hz = P(0, 150)[1]
    cv2.rectangle(img, (d0[0], hz), (d1[0], d1[1]), (150, 152, 150), -1)     # pavement outside
    cv2.line(img, (d0[0], hz), (d1[0], hz), (120, 122, 120), 1)
    post = max(2, int(round(DOOR_POST * sx)))
    frame_col = (168, 168, 162)
    cv2.rectangle(img, (d1[0], d0[1] - post), (d1[0] + post, d1[1]), frame_col, -1)
    cv2.rectangle(img, (0, d0[1] - post), (d1[0] + post, d0[1]), frame_col, -1)
    cv2.line(img, (d1[0] + post, d0[1] - post), (d1[0] + post, d1[1]), (110, 110, 108), 1)
    cv2.rectangle(img, (0, d1[1]), (d1[0] + post, min(H, d1[1] + post)), (80, 80, 82), -1)   # threshold

    # ATM: shadow, side face, front, header, screen, keypad, slots
    a0, a1 = P(ATM[0], ATM[1]), P(ATM[2], ATM[3])
    depth = max(2, int(round(8 * sx)))
    shadow = np.array([[a0[0] - depth, a1[1]], [a1[0], a1[1]], [a1[0] + depth, a1[1] + 3 * depth],
                       [a0[0] - 2 * depth, a1[1] + 3 * depth]], np.int32)
    cv2.fillConvexPoly(img, shadow, (105, 110, 114), cv2.LINE_AA)
    side = np.array([[a0[0] - depth, a0[1] + depth], [a0[0], a0[1]], [a0[0], a1[1]],
                     [a0[0] - depth, a1[1] + depth // 2]], np.int32)
    cv2.fillConvexPoly(img, side, (88, 86, 84), cv2.LINE_AA)
    cv2.rectangle(img, a0, a1, (118, 116, 112), -1)
    cv2.rectangle(img, a0, a1, (70, 70, 70), 1)
    cv2.rectangle(img, a0, (a1[0], P(0, ATM[1] + 16)[1]), (150, 80, 20), -1)          # blue header
    cv2.putText(img, "ATM", P(ATM[0] + 18, ATM[1] + 13), cv2.FONT_HERSHEY_SIMPLEX,
                0.38 * sy, (245, 245, 245), max(1, int(round(sy))), cv2.LINE_AA)
    cv2.rectangle(img, P(ATM[0] + 9, ATM[1] + 23), P(ATM[2] - 9, ATM[1] + 58), (40, 40, 40), -1)
    cv2.rectangle(img, P(ATM[0] + 11, ATM[1] + 25), P(ATM[2] - 11, ATM[1] + 56), (95, 70, 25), -1)
    for k in range(3):
        y = ATM[1] + 31 + 8 * k
        cv2.line(img, P(ATM[0] + 15, y), P(ATM[2] - 20 + 5 * k, y), (200, 180, 120), 1)
    cv2.rectangle(img, P(KEYPAD[0], KEYPAD[1]), P(KEYPAD[2], KEYPAD[3]), (60, 60, 62), -1)
    kw, kh = (KEYPAD[2] - KEYPAD[0]) / 3.0, (KEYPAD[3] - KEYPAD[1]) / 4.0
    for r in range(4):
        for c in range(3):
            cv2.rectangle(img, P(KEYPAD[0] + c * kw + 1.5, KEYPAD[1] + r * kh + 1.2),
                          P(KEYPAD[0] + (c + 1) * kw - 1.5, KEYPAD[1] + (r + 1) * kh - 1.2),
                          (170, 170, 172), -1)
    cv2.rectangle(img, P(ATM[2] - 20, ATM[1] + 68), P(ATM[2] - 8, ATM[1] + 72), (20, 20, 20), -1)  # card
    cv2.rectangle(img, P(ATM[0] + 10, ATM[1] + 96), P(ATM[2] - 10, ATM[1] + 102), (25, 25, 25), -1)

    img = cv2.GaussianBlur(img, (3, 3), 0.7)          # optics: no perfectly sharp edges
    grain = rng.normal(0, 1.5, (H, W, 1))             # fixed-pattern texture of the surfaces
    return np.clip(img.astype(np.float32) + grain, 0, 255).astype(np.uint8)


def _with_skimmer(bg: np.ndarray) -> np.ndarray:
    """The background with a card-slot overlay fitted: a pale plastic block with its own mouth and a
    light, proud of the fascia (its shadow below), softened like the rest by the optics."""
    H, W = bg.shape[:2]
    sx, sy = W / REF_W, H / REF_H

    def P(x: float, y: float) -> tuple[int, int]:
        return int(round(x * sx)), int(round(y * sy))

    out = bg.copy()
    x0, y0, x1, y1 = SKIMMER
    cv2.rectangle(out, P(x0 + 1, y1), P(x1 + 1, y1 + 1.5), (60, 60, 62), -1)             # shadow
    cv2.rectangle(out, P(x0, y0), P(x1, y1), (168, 182, 176), -1)                          # body
    cv2.rectangle(out, P(x0, y0), P(x1, y1), (45, 45, 48), max(1, int(round(sy))))        # outline
    cv2.rectangle(out, P(x0 + 3, y0 + 6), P(x1 - 3, y0 + 8), (15, 15, 15), -1)             # mouth
    cv2.circle(out, P(x1 - 3, y0 + 3), max(1, int(round(1.2 * sy))), (40, 200, 40), -1)   # light
    a, b = P(x0 - 2, y0 - 2), P(x1 + 3, y1 + 4)
    out[a[1]:b[1], a[0]:b[0]] = cv2.GaussianBlur(out[a[1]:b[1], a[0]:b[0]], (3, 3), 0.7)
    return out


def _render_cover(W: int, H: int, rng: np.random.Generator) -> np.ndarray:
    """A near-black, nearly flat patch (a hand or tape over the lens), a little light leaking in."""
    yy = (np.arange(H, dtype=np.float32) / H)[:, None]
    xx = (np.arange(W, dtype=np.float32) / W)[None, :]
    base = 10.0 + 3.0 * yy + 2.0 * xx + 5.0 * np.exp(-(1.0 - yy) / 0.08)
    blot = cv2.resize(rng.normal(0, 1, (6, 8)).astype(np.float32), (W, H), interpolation=cv2.INTER_CUBIC)
    v = base + 1.0 * blot
    tint = np.array([1.0, 0.95, 1.1], np.float32)
    return np.clip(v[..., None] * tint, 0, 255).astype(np.uint8)


def _make_texture(look: _Look, s: float, rng: np.random.Generator) -> np.ndarray:
    """Clothing texture for a sprite canvas: the jacket pattern plus fine speckle (for optical flow)."""
    h = look.height * s
    cw, ch = 2 * int(math.ceil(0.32 * h)) + 1, int(math.ceil(1.04 * h)) + 4
    tex = np.empty((ch, cw, 3), np.float32)
    tex[:] = look.jacket
    period = max(3, int(round(0.07 * h)))
    yy, xx = np.mgrid[0:ch, 0:cw]
    if look.pattern == "stripes":
        band = (yy // period) % 2 == 1
    else:
        band = ((yy % period) < max(1, period // 3)) | ((xx % period) < max(1, period // 3))
    tex[band] = look.jacket2
    speck = cv2.GaussianBlur(rng.normal(0, 10, (ch, cw)).astype(np.float32), (0, 0), 0.8)
    tex += speck[..., None]
    return np.clip(tex, 0, 255).astype(np.uint8)


def _make_sprite(look: _Look, tex: np.ndarray, s: float, spread: float, crouch: float) -> _Sprite:
    h = look.height * s
    ch, cw = tex.shape[:2]
    ox, oy = cw // 2, ch - 3
    img = np.zeros((ch, cw, 3), np.uint8)
    mask = np.zeros((ch, cw), np.uint8)
    torso_m = np.zeros((ch, cw), np.uint8)

    def P(x: float, y: float) -> tuple[int, int]:
        return int(round(ox + x)), int(round(oy + y))

    c = crouch * 0.14 * h
    hip_y = -0.42 * h + c
    leg_t = max(2, int(round(0.10 * h)))
    for side in (-1, 1):
        hip = (side * 0.055 * h, hip_y)
        foot = (side * (0.055 * h + spread * 0.10 * h), -0.04 * h)
        knee = ((hip[0] + foot[0]) / 2 + side * crouch * 0.09 * h, (hip[1] + foot[1]) / 2)
        for a, b in ((hip, knee), (knee, foot)):
            for dst, col in ((img, look.trousers), (mask, 255)):
                cv2.line(dst, P(*a), P(*b), col, leg_t, cv2.LINE_AA)
        shoe = P(foot[0] + side * 0.02 * h, -0.025 * h)
        axes = (max(2, int(round(0.055 * h))), max(1, int(round(0.028 * h))))
        for dst, col in ((img, look.shoes), (mask, 255)):
            cv2.ellipse(dst, shoe, axes, 0, 0, 360, col, -1, cv2.LINE_AA)

    tw = 0.16 * h
    top = -0.80 * h + c
    bottom = hip_y + 0.03 * h
    poly = np.array([P(-tw, top + 0.06 * h), P(tw, top + 0.06 * h), P(0.86 * tw, bottom),
                     P(-0.86 * tw, bottom)], np.int32)
    cv2.fillConvexPoly(torso_m, poly, 255, cv2.LINE_8)
    cv2.ellipse(torso_m, P(0, top + 0.06 * h), (int(round(tw)), max(1, int(round(0.06 * h)))),
                0, 180, 360, 255, -1, cv2.LINE_8)
    tm = torso_m > 0
    img[tm] = tex[tm]
    mask[tm] = 255

    r = 0.085 * h
    neck = (P(-0.035 * h, top - 0.05 * h), P(0.035 * h, top + 0.02 * h))
    head_c = P(0, top - 0.02 * h - 1.1 * r)
    head_axes = (max(2, int(round(0.85 * r))), max(2, int(round(1.1 * r))))  # a head is taller than wide
    for dst, col in ((img, look.skin), (mask, 255)):
        cv2.rectangle(dst, neck[0], neck[1], col, -1)
        cv2.ellipse(dst, head_c, head_axes, 0, 0, 360, col, -1, cv2.LINE_AA)
    hair_c = (head_c[0], head_c[1] - int(round(0.55 * r)))
    cv2.ellipse(img, hair_c, (head_axes[0], max(1, int(round(0.55 * r)))), 0, 180, 360, look.hair, -1, cv2.LINE_AA)
    _draw_face(img, head_c, r, look)

    m = mask > 127
    ys, xs = np.nonzero(m)
    bbox = (int(xs.min()) - ox, int(ys.min()) - oy, int(xs.max()) + 1 - ox, int(ys.max()) + 1 - oy)
    sh_y = int(round(top + 0.07 * h))
    sh_x = int(round(tw - 0.02 * h))
    return _Sprite(img, m, ox, oy, bbox, (-sh_x, sh_y), (sh_x, sh_y))


def _draw_face(img: np.ndarray, c: tuple[int, int], r: float, look: _Look) -> None:
    """A frontal face on the head (centre `c`, radius `r`): eye sockets darker than the cheeks, a
    lighter nose bridge, brows, nostrils and mouth, the contrasts a face cascade looks for. With a
    `covering`, cloth over the head and the lower face leaves only the eyes."""
    if r < 4:
        return
    skin = np.array(look.skin, np.float64)
    k = r / 40.0                                   # the drawing is laid out for a 40-px radius

    def P(x: float, y: float) -> tuple[int, int]:
        return int(round(c[0] + x * k)), int(round(c[1] + y * k))

    def L(v: float) -> int:
        return max(1, int(round(v * k)))

    for sx in (-1, 1):
        cv2.ellipse(img, P(sx * 15, -2), (L(12), L(8)), 0, 0, 360, (skin * 0.55).tolist(), -1, cv2.LINE_AA)
        cv2.line(img, P(sx * 5, -11), P(sx * 25, -11), look.hair, L(4), cv2.LINE_AA)
        cv2.ellipse(img, P(sx * 15, -1), (L(7), L(3.5)), 0, 0, 360, (150, 150, 155), -1, cv2.LINE_AA)
        cv2.circle(img, P(sx * 15, -1), L(3.5), (20, 20, 20), -1, cv2.LINE_AA)
    cv2.line(img, P(0, -4), P(0, 10), np.clip(skin * 1.15, 0, 255).tolist(), L(5), cv2.LINE_AA)
    cv2.ellipse(img, P(0, 14), (L(7), L(4)), 0, 0, 360, (skin * 0.6).tolist(), -1, cv2.LINE_AA)
    cv2.ellipse(img, P(0, 27), (L(12), L(4)), 0, 0, 360, (60, 60, 130), -1, cv2.LINE_AA)
    if look.covering is not None:
        cloth = look.covering
        cv2.ellipse(img, c, (int(round(r)), int(round(r))), 0, 180, 360, cloth, -1, cv2.LINE_AA)
        cv2.rectangle(img, P(-40, -14), P(40, -12), cloth, -1)
        cv2.ellipse(img, c, (int(round(r)), int(round(r))), 0, 0, 180, cloth, -1, cv2.LINE_AA)
        cv2.rectangle(img, P(-40, 4), P(40, 40), cloth, -1)


def _draw_bag(f: np.ndarray, x: int, y: int, w: int, h: int) -> None:
    """A dark holdall: body in the lower 75 % of (x, y, w, h), a handle above, a zip line."""
    body_top = y + max(1, int(round(0.25 * h)))
    cv2.rectangle(f, (x, body_top), (x + w - 1, y + h - 1), _BAG_COLOUR, -1)
    t = max(1, int(round(0.08 * h)))
    cv2.ellipse(f, (x + w // 2, body_top), (max(2, w // 4), max(1, body_top - y - t // 2)),
                0, 180, 360, _BAG_COLOUR, t, cv2.LINE_AA)
    zy = body_top + max(1, int(round(0.18 * h)))
    cv2.line(f, (x + 2, zy), (x + w - 3, zy), (70, 80, 92), 1)
    cv2.rectangle(f, (x + w // 3, zy + 2), (x + 2 * w // 3, min(y + h - 2, zy + 2 + max(1, h // 6))),
                  (50, 58, 70), -1)
