# canopy/ferretdb: the FerretDB binary built from its Go module by bootstrap/infra/ferretdb.py.
FROM canopy/debian:latest
RUN useradd -u 10005 -U -d /var/lib/ferretdb -m -s /usr/sbin/nologin ferretdb
COPY ferretdb /usr/local/bin/ferretdb
USER ferretdb
HEALTHCHECK --interval=5s --timeout=30s --start-period=60s --retries=10 CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/${FERRETDB_PORT:-27017}"]
CMD ["sh", "-c", "exec ferretdb --listen-addr=127.0.0.1:${FERRETDB_PORT:-27017} --telemetry=disable --handler=sqlite --sqlite-url=file:/var/lib/ferretdb/"]
