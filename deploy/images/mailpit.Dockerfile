# canopy/mailpit: the SMTP inbox built from its Go module by bootstrap/infra/mailpit.py (static binary).
FROM canopy/debian:latest
RUN useradd -u 10004 -U -d /var/lib/mailpit -m -s /usr/sbin/nologin mailpit
COPY mailpit /usr/local/bin/mailpit
USER mailpit
VOLUME /var/lib/mailpit
HEALTHCHECK --interval=5s --timeout=30s --start-period=60s --retries=10 CMD ["sh", "-c", "mailpit readyz --listen 127.0.0.1:${MAILPIT_HTTP_PORT:-8025}"]
CMD ["sh", "-c", "exec mailpit --smtp 127.0.0.1:${MAILPIT_SMTP_PORT:-1025} --listen 127.0.0.1:${MAILPIT_HTTP_PORT:-8025} --database /var/lib/mailpit/mailpit.db --disable-version-check --smtp-disable-rdns --smtp-auth-accept-any --smtp-auth-allow-insecure"]
