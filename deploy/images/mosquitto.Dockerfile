# canopy/mosquitto: Debian's Mosquitto with the dynamic-security plugin. Its config and accounts
# (mosquitto.conf, dynamic-security.json) are written into /var/lib/mosquitto by `canopy-setup`.
FROM canopy/debian:latest
RUN apt-get update -q && apt-get install -y -q --no-install-recommends mosquitto >/dev/null \
 && rm -rf /var/lib/apt/lists/* /usr/share/doc /usr/share/man /var/cache/apt/* \
 && mkdir -p /var/lib/mosquitto && chown 10001:10001 /var/lib/mosquitto
USER 10001:10001
VOLUME /var/lib/mosquitto
HEALTHCHECK --interval=5s --timeout=30s --start-period=60s --retries=10 CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/${MQTT_PORT:-1883}"]
CMD ["mosquitto", "-c", "/var/lib/mosquitto/mosquitto.conf"]
