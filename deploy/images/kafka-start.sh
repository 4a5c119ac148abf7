#!/bin/bash
# Write server.properties from the environment (SASL/SCRAM, ACLs, loopback listeners), format the
# storage with the admin's SCRAM login on first start, then run the broker in the foreground.
set -euo pipefail
KAFKA_ADMIN_USER=${KAFKA_ADMIN_USER:-canopy-admin}
: "${KAFKA_ADMIN_PASSWORD:?}" "${KAFKA_CONTROLLER_PASSWORD:?}"
port=${KAFKA_PORT:-9092} controller_port=${KAFKA_CONTROLLER_PORT:-9093} host=${KAFKA_HOST:-127.0.0.1}
conf=/var/lib/kafka/server.properties
scram=org.apache.kafka.common.security.scram.ScramLoginModule
plain=org.apache.kafka.common.security.plain.PlainLoginModule
umask 077
cat > "$conf" <<PROPERTIES
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@${host}:${controller_port}
listeners=SASL_PLAINTEXT://${host}:${port},CONTROLLER://${host}:${controller_port}
advertised.listeners=SASL_PLAINTEXT://${host}:${port},CONTROLLER://${host}:${controller_port}
inter.broker.listener.name=SASL_PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:SASL_PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=${scram} required username="${KAFKA_ADMIN_USER}" password="${KAFKA_ADMIN_PASSWORD}";
sasl.mechanism.controller.protocol=PLAIN
listener.name.controller.sasl.enabled.mechanisms=PLAIN
listener.name.controller.plain.sasl.jaas.config=${plain} required username="controller" password="${KAFKA_CONTROLLER_PASSWORD}" user_controller="${KAFKA_CONTROLLER_PASSWORD}";
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:${KAFKA_ADMIN_USER};User:controller
log.dirs=/var/lib/kafka/data
num.partitions=3
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
broker.session.timeout.ms=30000
metadata.log.max.snapshot.interval.ms=60000
PROPERTIES
java=(java -Xms256m -Xmx768m -XX:+UseG1GC -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true
      -Dkafka.logs.dir=/var/lib/kafka -cp '/opt/kafka/libs/*')
if [ ! -e /var/lib/kafka/data/meta.properties ]; then
  cluster=$(head -c16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')  # may start with "-": hence --cluster-id=
  "${java[@]}" kafka.tools.StorageTool format --cluster-id="$cluster" -c "$conf" \
    --add-scram "SCRAM-SHA-512=[name=${KAFKA_ADMIN_USER},password=${KAFKA_ADMIN_PASSWORD}]"
fi
exec "${java[@]}" kafka.Kafka "$conf"
