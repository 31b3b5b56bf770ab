#!/usr/bin/env bash
#! Sustained SQS → lake throughput of `auditlake consume` against moto_server on loopback, next
#! to the decode→write path alone (`auditlake ingest` of the same events), and where the CPU time
#! goes (consumer vs moto). Usage: benches/consume.sh [EVENTS] (default 100000)
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-100000}"
per_msg="${PER_MSG:-100}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/auditlake-target}"
py="$(bash scripts/python-env.sh)"
# AUDITLAKE_BIN: an already-built binary (skips the build, whose feature set differs from a
# `cargo bench` build's and may recompile DataFusion).
if [ -z "${AUDITLAKE_BIN:-}" ]; then cargo build --profile bench --bin auditlake >&2; fi
bin="${AUDITLAKE_BIN:-$CARGO_TARGET_DIR/release/auditlake}"
work="$(mktemp -d)"
port=$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mport=$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$(dirname "$py")/moto_server" -H 127.0.0.1 -p "$port" >/dev/null 2>&1 &
moto=$!
trap 'kill $moto 2>/dev/null; kill $cons 2>/dev/null; rm -rf "$work"' EXIT
cons=""
export AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_ALLOW_HTTP=true AWS_ACCESS_KEY_ID=bench \
  AWS_SECRET_ACCESS_KEY=bench AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
for _ in $(seq 100); do curl -sf "$AWS_ENDPOINT_URL/moto-api/" >/dev/null && break; sleep 0.1; done
queue=$("$py" - <<PY
import boto3, json
kw = dict(endpoint_url="$AWS_ENDPOINT_URL", region_name="us-east-1")
boto3.client("s3", **kw).create_bucket(Bucket="lake")
boto3.client("s3", **kw).create_bucket(Bucket="transient")
sqs = boto3.client("sqs", **kw)
dlq = sqs.create_queue(QueueName="dlq")["QueueUrl"]
arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
print(sqs.create_queue(QueueName="events", Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": "20"})})["QueueUrl"])
PY
)
cat > "$work/cfg.yaml" <<YAML
identity_activity_center:
  region: us-east-1
  s3: s3://lake/data/
  s3_large_files: s3://transient/large_files
  sqs_queue_url: $queue
  tenant: bench
  batch_max_items: 20000
  batch_max_interval: 5s
  receive_wait: 1s
  receivers: 5
YAML
days=10
"$bin" demo --teleport-only --seed 1 --start 2024-05-01 --days "$days" --events-per-day $(( n / days )) --out "$work/events.ndjson" >&2
n=$(wc -l < "$work/events.ndjson")
bytes=$(stat -c %s "$work/events.ndjson")

t0=$(date +%s.%N)
"$bin" publish --config "$work/cfg.yaml" --events-per-message "$per_msg" "$work/events.ndjson" >&2
t1=$(date +%s.%N)

cpu() { awk '{print ($14+$15)/100}' "/proc/$1/stat"; }
moto_cpu0=$(cpu $moto)
"$bin" consume --config "$work/cfg.yaml" --metrics-addr "127.0.0.1:$mport" 2>"$work/consume.log" &
cons=$!
t2=$(date +%s.%N)
while true; do
  w=$(curl -s "127.0.0.1:$mport/metrics" | awk '/^auditlake_consume_events_written_total/ {print $2}' || true)
  [ "${w:-0}" -ge "$n" ] && break
  sleep 0.1
done
t3=$(date +%s.%N)
cons_cpu=$(cpu $cons)
moto_cpu=$(echo "$(cpu $moto) - $moto_cpu0" | bc -l)
kill -TERM $cons; wait $cons || true; cons=""

t4=$(date +%s.%N)
"$bin" ingest --lake "$work/local" --tenant bench "$work/events.ndjson" >/dev/null
t5=$(date +%s.%N)

awk -v n="$n" -v b="$bytes" -v pm="$per_msg" -v p="$(echo "$t1-$t0" | bc -l)" -v c="$(echo "$t3-$t2" | bc -l)" \
    -v i="$(echo "$t5-$t4" | bc -l)" -v cc="$cons_cpu" -v mc="$moto_cpu" 'BEGIN {
  printf "events %d (%.0f MiB NDJSON), %d events per message\n", n, b/1048576, pm
  printf "publish (SendMessageBatch)   %7.2f s  %9.0f events/s\n", p, n/p
  printf "consume SQS -> lake          %7.2f s  %9.0f events/s  (CPU: consumer %.2f s, moto %.2f s)\n", c, n/c, cc, mc
  printf "ingest file -> lake (local)  %7.2f s  %9.0f events/s\n", i, n/i
  printf "consume / decode-write ratio %7.2f\n", (n/c)/(n/i)
}'
