# canopy/python-runtime: Python 3.11 without pip, venv, docs or the apt cache, flattened to one layer.
FROM canopy/python:3.11 AS strip
RUN apt-get purge -y -q python3-pip python3-venv python3-pip-whl python3-setuptools-whl >/dev/null \
 && apt-get autoremove -y -q --purge >/dev/null \
 && rm -rf /var/lib/apt/lists/* /usr/share/doc /usr/share/man /usr/share/locale /var/cache/apt/* \
 && find /usr/lib/python3* -name __pycache__ -prune -exec rm -rf {} + \
 && rm -rf /usr/lib/python3.11/test /usr/lib/python3.11/idlelib /usr/lib/python3.11/tkinter
FROM scratch
COPY --from=strip / /
ENV LANG=C.UTF-8
CMD ["python3"]
