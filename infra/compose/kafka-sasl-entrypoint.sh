#!/usr/bin/env bash
# Compose's Kafka nodes start here, then hand over to the image's own start script.
#
# SASL/SCRAM credentials live in the cluster's metadata log, so a node's first start must find them
# there: a new node is formatted here with every principal's credential (SCRAM_CREDENTIALS, "name=password"
# pairs separated by spaces, from .env), from the same server.properties the image renders from the
# KAFKA_* variables; the image's own format then finds the node formatted and leaves it alone.
# infra/local/kafka_security.py does the same for `make run-full`. The healthcheck signs in with the
# broker principal through /tmp/healthcheck.properties.
set -euo pipefail

# KAFKA_FOO_BAR -> foo.bar, "__" -> "_", "___" -> "-": the image's own renaming of its variables.
property_name() {
  local name=${1#KAFKA_}
  name=${name//___/-}
  name=${name//__/@}
  name=${name//_/.}
  name=${name//@/_}
  echo "${name,,}"
}

jaas_variable=KAFKA_LISTENER_NAME_INTERNAL_SCRAM___SHA___512_SASL_JAAS_CONFIG
if [[ -z "${!jaas_variable:-}" ]]; then
  # A plaintext broker (an overlay without SASL, e.g. docker-compose.zookeeper.yml): nothing to add.
  echo "security.protocol=PLAINTEXT" > /tmp/healthcheck.properties
  exec /etc/kafka/docker/run "$@"
fi
cat > /tmp/healthcheck.properties <<EOF
security.protocol=SASL_PLAINTEXT
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=${!jaas_variable}
EOF
chmod 600 /tmp/healthcheck.properties

if [[ ! -f "${KAFKA_LOG_DIRS}/meta.properties" ]]; then
  config=$(mktemp)
  excluded=" KAFKA_VERSION KAFKA_HEAP_OPTS KAFKA_LOG4J_OPTS KAFKA_OPTS KAFKA_JMX_OPTS KAFKA_JVM_PERFORMANCE_OPTS KAFKA_GC_LOG_OPTS "
  while IFS='=' read -r variable _; do
    [[ $variable == KAFKA_* && $excluded != *" $variable "* ]] || continue
    echo "$(property_name "$variable")=${!variable}" >> "$config"
  done < <(env)
  scram=()
  for credential in ${SCRAM_CREDENTIALS:?compose sets them from .env}; do
    scram+=(--add-scram "SCRAM-SHA-512=[name=${credential%%=*},password=${credential#*=}]")
  done
  /opt/kafka/bin/kafka-storage.sh format --cluster-id "$CLUSTER_ID" --config "$config" "${scram[@]}"
  rm -f "$config"
fi

exec /etc/kafka/docker/run "$@"
