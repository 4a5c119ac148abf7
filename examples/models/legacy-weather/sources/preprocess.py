"""Legacy preprocess hook: the request's JSON body in, the model's feature rows out."""

import math


def preprocess(data):
    """Return [[sqrt(precipitation), max temperature]] for one day."""
    return [[math.sqrt(data["perc"]), data["temp_max"]]]
