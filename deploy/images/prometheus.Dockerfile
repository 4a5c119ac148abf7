# canopy/prometheus: Debian's Prometheus with Canopy's config and rules (deploy/prometheus/).
FROM canopy/debian:latest
RUN apt-get update -q && apt-get install -y -q --no-install-recommends prometheus >/dev/null \
 && rm -rf /var/lib/apt/lists/* /usr/share/doc /usr/share/man /var/cache/apt/* /usr/share/prometheus \
 && mkdir -p /var/lib/prometheus/data && chown -R prometheus:prometheus /var/lib/prometheus
COPY prometheus /etc/prometheus
USER prometheus
VOLUME /var/lib/prometheus
HEALTHCHECK --interval=5s --timeout=30s --start-period=60s --retries=10 CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/${PROMETHEUS_PORT:-9090}"]
CMD ["/etc/prometheus/start.sh"]
