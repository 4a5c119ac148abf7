#!/bin/sh
# Fill the config's ports from the environment, write the services' file_sd targets and the scrape
# token, then run Prometheus on 127.0.0.1:PROMETHEUS_PORT.
# SERVICE_PORTS: "name=port name=port ..." of the services' and agents' ops servers.
set -eu
sed -e "s/@GATEWAY_PORT@/${GATEWAY_PORT:-8080}/g" /etc/prometheus/prometheus.yml > /tmp/prometheus.yml
groups=""
for pair in ${SERVICE_PORTS:-}; do
  groups="${groups:+$groups,}{\"targets\":[\"127.0.0.1:${pair#*=}\"],\"labels\":{\"service\":\"${pair%%=*}\"}}"
done
printf '[%s]\n' "$groups" > /tmp/services.json
umask 077
printf %s "${SCRAPE_TOKEN:-}" > /tmp/scrape-token
exec prometheus --config.file=/tmp/prometheus.yml --storage.tsdb.path=/var/lib/prometheus/data \
  --web.listen-address="127.0.0.1:${PROMETHEUS_PORT:-9090}" --storage.tsdb.retention.time=7d
