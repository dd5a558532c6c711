#!/usr/bin/env python3
"""Writes data/wine.csv from scikit-learn's copy of the UCI Wine data (load_wine), with 14 of the
2314 feature fields blanked (10 empty, 2 "NA", 2 "?") to show imputation.
Run: python3 data/make_wine_csv.py"""
import csv
import os

import numpy as np
from sklearn.datasets import load_wine

d = load_wine()
X, y = d.data.copy(), d.target
rng = np.random.RandomState(7)
n, D = X.shape
cells = rng.choice(n * D, 14, replace=False)
marks = [""] * 10 + ["NA"] * 2 + ["?"] * 2
blank = {int(c): m for c, m in zip(cells, marks)}
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "wine.csv")
with open(path, "w", newline="") as f:
    w = csv.writer(f, lineterminator="\n")
    w.writerow(list(d.feature_names) + ["cultivar"])
    for i in range(n):
        row = [blank.get(i * D + j, repr(float(X[i, j]))) for j in range(D)]
        w.writerow(row + [d.target_names[y[i]]])
