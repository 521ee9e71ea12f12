"""How synthetic objects move: per-frame paths of centre, size and rotation, and event envelopes.

Motion: velocity with small random accelerations, bouncing at the borders (objects may cross the
border by up to a quarter of their size), a bounded scale drift (0.82 to 1.22 times the first
radius) and a bounded rotation (shapes that would turn into another category, a square into a
diamond, turn little). Centres and radii are pixels, angles degrees, speeds pixels per frame.
"""

from __future__ import annotations

import math

import numpy as np


def _plateau(n: int, start: int, ramp_in: int, hold: int, ramp_out: int) -> np.ndarray:
    """0 .. smoothly up to 1 .. held .. smoothly down to 0 (raised cosines)."""
    w = np.zeros(n)
    for t in range(n):
        u = t - start
        if u < 0:
            continue
        if u < ramp_in:
            w[t] = 0.5 - 0.5 * math.cos(math.pi * (u + 1) / (ramp_in + 1))
        elif u < ramp_in + hold:
            w[t] = 1.0
        elif u < ramp_in + hold + ramp_out:
            w[t] = 0.5 + 0.5 * math.cos(math.pi * (u - ramp_in - hold + 1) / (ramp_out + 1))
    return w


def _scale_path(rng: np.random.Generator, n: int, r0: float) -> np.ndarray:
    lo, hi = math.log(0.82), math.log(1.22)
    ls, v = 0.0, rng.normal(0.0, 0.006)
    out = np.empty(n)
    for t in range(n):
        out[t] = r0 * math.exp(ls)
        v = float(np.clip(v + rng.normal(0.0, 0.003), -0.015, 0.015))
        ls += v
        if ls < lo or ls > hi:
            ls = 2 * (lo if ls < lo else hi) - ls
            v = -v
    return out


def _angle_path(rng: np.random.Generator, n: int, turn: float | None) -> np.ndarray:
    a = rng.uniform(0, 360) if turn is None else rng.uniform(-turn, turn)
    w = rng.normal(0.0, 1.0)
    out = np.empty(n)
    for t in range(n):
        out[t] = a
        w = float(np.clip(w + rng.normal(0.0, 0.25), -3.0, 3.0))
        a += w
        if turn is not None and abs(a) > turn:
            a = math.copysign(2 * turn, a) - a
            w = -w
    return out


def _motion_path(rng: np.random.Generator, n: int, start: np.ndarray, radii: np.ndarray, width: int, height: int,
                 vmax: float, edge: float) -> np.ndarray:
    """Velocity + small random accelerations, reflected at the borders (the centre stays ``edge``
    radii inside the frame)."""
    speed = rng.uniform(0.0, 0.06) * vmax if rng.random() < 0.15 else rng.uniform(0.1, 1.0) * vmax
    phi = rng.uniform(0, 2 * math.pi)
    v = np.array([math.cos(phi), math.sin(phi)]) * speed
    accel = 0.05 * vmax
    p = start.astype(np.float64).copy()
    out = np.empty((n, 2))
    for t in range(n):
        out[t] = p
        v = v + rng.normal(0.0, accel, 2)
        s = float(np.hypot(*v))
        if s > vmax:
            v *= vmax / s
        p = p + v
        r = float(radii[min(t + 1, n - 1)])
        for axis, size in ((0, width), (1, height)):
            lo, hi = edge * r, size - edge * r
            if hi <= lo:
                p[axis] = size / 2
                v[axis] = 0.0
            elif p[axis] < lo:
                p[axis] = min(2 * lo - p[axis], hi)
                v[axis] = abs(v[axis])
            elif p[axis] > hi:
                p[axis] = max(2 * hi - p[axis], lo)
                v[axis] = -abs(v[axis])
    return out
