# canopy/platform: runs any Canopy service (`python -m services.X`; the gateway under gunicorn).
# Context: the repository root (see .dockerignore); wheels resolved on the host in build/images/wheels.
FROM canopy/python:3.11 AS venv
COPY build/images/wheels /tmp/wheels
RUN python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install -q --no-index --no-compile --find-links /tmp/wheels -r /tmp/wheels/requirements.txt \
 && /opt/venv/bin/pip uninstall -q -y setuptools \
 && find /opt/venv -name __pycache__ -prune -exec rm -rf {} + \
 && rm -rf /opt/venv/lib/python3.11/site-packages/*.dist-info/RECORD

FROM canopy/python-runtime:latest
# The canopy user (10001) comes with the root filesystem; /var/lib/canopy/broker is where the stack's
# setup step mounts Mosquitto's volume to write its accounts; /var/lib/canopy-agent is the agent's home.
# bubblewrap sandboxes the deployer's pip (the venv keeps pip for `pip download` of models' wheels);
# iptables (nf_tables, as the host's) is the node agent's, for the docker workloads' firewall.
RUN apt-get update -q && apt-get install -y -q --no-install-recommends bubblewrap iptables >/dev/null \
 && rm -rf /var/lib/apt/lists/* /usr/share/doc /usr/share/man /var/cache/apt/* \
 && mkdir -p /var/lib/canopy/broker /var/lib/canopy-agent \
 && chown -R 10001:10001 /var/lib/canopy /var/lib/canopy-agent
COPY --from=venv /opt/venv /opt/venv
COPY build/images/portal/node_modules /opt/canopy/services/gateway/portal/node_modules
COPY deploy/gunicorn.conf.py deploy/probe.py deploy/deps.Dockerfile /opt/canopy/deploy/
COPY sdk /opt/canopy/sdk
COPY bootstrap /opt/canopy/bootstrap
COPY canopy /opt/canopy/canopy
COPY services /opt/canopy/services
ENV PATH=/opt/venv/bin:/usr/sbin:/usr/bin:/sbin:/bin PYTHONPATH=/opt/canopy:/opt/canopy/sdk PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 CANOPY_HOME=/var/lib/canopy
WORKDIR /opt/canopy
USER 10001:10001
HEALTHCHECK --interval=5s --timeout=30s --start-period=60s --retries=10 CMD ["python", "/opt/canopy/deploy/probe.py"]
CMD ["python", "-m", "services.gateway"]
