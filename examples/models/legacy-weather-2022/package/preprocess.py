"""The 2022 preprocess hook: the request's JSON body in, one feature row out (numpy, as the original did)."""

import numpy as np


def preprocess(data):
    """Return [[sqrt(precipitation), max temperature]] for one day."""
    perc = np.sqrt(float(data["perc"]))
    temp_max = float(data["temp_max"])
    return np.array([[perc, temp_max]])
