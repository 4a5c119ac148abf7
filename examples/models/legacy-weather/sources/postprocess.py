"""Legacy postprocess hook: the model's class number in, the weather's name out."""

WEATHER = {0: "Drizzle", 1: "Fog", 2: "Rain", 3: "Snow", 4: "Sun"}


def postprocess(inp):
    """Name the first predicted class."""
    return WEATHER[int(inp[0])]
