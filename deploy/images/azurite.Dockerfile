# canopy/azurite: the Azure Blob emulator from npm (installed on the host by bootstrap/infra/azurite.py)
# on Debian's Node.js. Context: its node_modules.
FROM canopy/debian:latest
RUN apt-get update -q && apt-get install -y -q --no-install-recommends nodejs >/dev/null \
 && rm -rf /var/lib/apt/lists/* /usr/share/doc /usr/share/man /var/cache/apt/* \
 && useradd -u 10003 -U -d /var/lib/azurite -m -s /usr/sbin/nologin azurite
COPY node_modules /opt/azurite/node_modules
USER azurite
VOLUME /var/lib/azurite
HEALTHCHECK --interval=5s --timeout=30s --start-period=60s --retries=10 CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/${AZURITE_PORT:-10000}"]
CMD ["sh", "-c", "exec node /opt/azurite/node_modules/azurite/dist/src/blob/main.js --blobHost 127.0.0.1 --blobPort ${AZURITE_PORT:-10000} --location /var/lib/azurite --skipApiVersionCheck --loose --disableTelemetry"]
