"""The 2022 postprocess hook: the model's class number in, the weather's name out."""


def postprocess(inp):
    """Name the first predicted class."""
    weather = {0: "Drizzle", 1: "Fog", 2: "Rain", 3: "Snow", 4: "Sun"}
    return weather[int(inp[0])]
