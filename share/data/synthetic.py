#!/usr/bin/env python3
"""Writes the synthetic data sets of the model library (linreg.json,
poisson.json, radon.json, gauss_mix.json) into this folder.  Pure Python,
fixed seeds: running it again reproduces the files byte for byte.

    python3 share/data/synthetic.py
"""
import json
import math
import os
import random

HERE = os.path.dirname(os.path.abspath(__file__))


def write(name, data):
    """One variable per line; a matrix one row per line."""
    parts = []
    for key, value in data.items():
        if isinstance(value, list) and value and isinstance(value[0], list):
            rows = ",\n  ".join(json.dumps(row) for row in value)
            parts.append(' "%s": [\n  %s\n ]' % (key, rows))
        else:
            parts.append(' "%s": %s' % (key, json.dumps(value)))
    with open(os.path.join(HERE, name), "w") as f:
        f.write("{\n" + ",\n".join(parts) + "\n}\n")


def r6(x):
    return round(x, 6)


def linreg():
    """y = 1 + 0.5 x1 + 0.5 x2 + N(0, 1) with corr(x1, x2) = 0.99:
    strongly collinear predictors, so beta[2] and beta[3] are strongly
    negatively correlated a posteriori."""
    rng = random.Random(20261121)
    rows, y = [], []
    for _ in range(40):
        x1 = rng.gauss(0, 1)
        x2 = 0.99 * x1 + math.sqrt(1 - 0.99 ** 2) * rng.gauss(0, 1)
        rows.append([1.0, r6(x1), r6(x2)])
        y.append(r6(1 + 0.5 * x1 + 0.5 * x2 + rng.gauss(0, 1)))
    write("linreg.json", {"N": 40, "D": 3, "X": rows, "y": y})


def poisson():
    """Counts with log rate 0.5 + 0.8 x1 - 0.4 x2 + log exposure."""
    rng = random.Random(7)
    rows, y, offset = [], [], []
    for _ in range(100):
        x1, x2 = rng.gauss(0, 0.5), rng.gauss(0, 0.5)
        log_exposure = math.log(rng.uniform(0.5, 2.0))
        rate = math.exp(0.5 + 0.8 * x1 - 0.4 * x2 + log_exposure)
        count, p, limit = 0, 1.0, math.exp(-rate)  # Knuth's method
        while True:
            p *= rng.random()
            if p <= limit:
                break
            count += 1
        rows.append([1.0, r6(x1), r6(x2)])
        y.append(count)
        offset.append(r6(log_exposure))
    write("poisson.json", {"N": 100, "D": 3, "X": rows, "y": y, "offset": offset})


def radon():
    """12 counties of 3 to 20 houses: log radon = a[county] + b floor +
    N(0, 0.75^2), a ~ N(1.4, 0.35^2), b = -0.6, floor 1 with prob. 0.2."""
    rng = random.Random(12)
    county, x, y = [], [], []
    for j in range(12):
        a = rng.gauss(1.4, 0.35)
        for _ in range(rng.randint(3, 20)):
            floor = 1 if rng.random() < 0.2 else 0
            county.append(j + 1)
            x.append(floor)
            y.append(r6(a - 0.6 * floor + rng.gauss(0, 0.75)))
    write("radon.json", {"N": len(y), "J": 12, "county": county, "x": x, "y": y})


def gauss_mix():
    """300 draws from 0.3 N(-4, 1) + 0.5 N(0, 0.8^2) + 0.2 N(5, 1.2^2)."""
    rng = random.Random(3)
    y = []
    for _ in range(300):
        u = rng.random()
        k = 0 if u < 0.3 else 1 if u < 0.8 else 2
        y.append(r6(rng.gauss((-4.0, 0.0, 5.0)[k], (1.0, 0.8, 1.2)[k])))
    write("gauss_mix.json", {"N": 300, "y": y})


if __name__ == "__main__":
    linreg()
    poisson()
    radon()
    gauss_mix()
