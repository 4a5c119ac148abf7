# canopy/kafka: one KRaft broker+controller from the Maven jars (bootstrap/infra/kafka/pom.xml) on
# Debian's Java 17 runtime. Context: the jars in libs/ and kafka-start.sh.
FROM canopy/debian:latest
RUN mkdir -p /usr/share/man/man1 && apt-get update -q && apt-get install -y -q --no-install-recommends openjdk-17-jre-headless >/dev/null \
 && rm -rf /var/lib/apt/lists/* /usr/share/doc /usr/share/man /var/cache/apt/* \
 && useradd -u 10002 -U -d /var/lib/kafka -M -s /usr/sbin/nologin kafka \
 && mkdir -p /var/lib/kafka/data && chown -R kafka:kafka /var/lib/kafka
COPY libs /opt/kafka/libs
COPY kafka-start.sh /opt/kafka/kafka-start.sh
USER kafka
VOLUME /var/lib/kafka
HEALTHCHECK --interval=5s --timeout=30s --start-period=60s --retries=10 CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/${KAFKA_PORT:-9092}"]
CMD ["/opt/kafka/kafka-start.sh"]
