"""The model server run inside every model workload (`python -m platform_sdk.serving --package DIR`).

It imports only the standard library, numpy, waitress, prometheus_client and the model's framework, and it
stays Python 3.9 compatible because legacy packages may pin libraries that need an older interpreter.
"""
