"""The model server run inside every model workload (`python -m platform_sdk.serving --package DIR`).

It imports only the standard library and the model's framework (numpy only for numpy frameworks), so it
adds no requirement that could clash with a package's pins, and it stays Python 3.9 compatible because
legacy packages may pin libraries that need an older interpreter.
"""
