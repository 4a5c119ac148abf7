# The dependencies layer of model images: a virtualenv with one resolved set of pinned wheels, shared
# by every model that needs exactly that set. Built with `docker build --network none`.
ARG BASE=canopy/python:3.11
FROM ${BASE}
COPY wheels /tmp/wheels
RUN python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install -q --no-index --find-links /tmp/wheels -r /tmp/wheels/requirements.txt \
 && rm -rf /tmp/wheels /root/.cache
