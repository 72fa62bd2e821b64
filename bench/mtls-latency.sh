#!/usr/bin/env bash
# mtls-latency: what two sidecars, and mutual TLS between them, add to a request. fortio runs in
# a client pod's network namespace (`devcluster exec`: the pod's capture rules send its traffic
# through the pod's sidecar) at a fixed rate against the echo Service, three ways:
#   nomesh     a namespace without injection: fortio -> echo (kube-proxy's ClusterIP)
#   plaintext  injected namespace, DestinationRule echo tls.mode DISABLE:
#              fortio -> client Envoy -> server Envoy (HTTP) -> echo
#   mtls       injected namespace, default (auto mTLS): the same with mutual TLS between Envoys
# For each: fortio's p50/p90/p99/p99.9 (histogram resolution 10 us) and the CPU time of the two
# Envoy processes (and of the app) from /proc/<pid>/stat during the measured run.
#
#   bench/mtls-latency.sh [--qps 1000] [--duration 30s] [--connections 16] [--rounds 2]
#                         [--payload 1024] [--backend fortio|echo]
#
# As Istio's own latency benchmark: 1,000 req/s over 16 connections, 1 KB request payloads
# (POST, echoed back by the app); `--payload 0` sends GETs.
#
# The app behind the Service `echo` is, by default, `fortio server` (as in Istio's own
# benchmark; the devcluster runs pods as host processes, so the pod's command is the host's
# fortio binary). `--backend echo` uses the trellis/echo app instead, which answers every
# request after a setTimeout(0) (at least 1 ms) and so adds ~2 ms of its own to every mode.
# Needs the running devcluster with Trellis installed (make cluster-up && make deploy) and
# fortio 1.68 ($FORTIO, or $(go env GOPATH)/bin/fortio; installed with `go install` if missing).
# Creates and deletes the namespaces bench-mtls-<id> and bench-nomesh-<id>.
# Record the results in BENCHMARKS.md with the machine and the date.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export KUBECONFIG="${KUBECONFIG:-$root/.devcluster/kubeconfig}"
source "$root/tools/devcluster/versions.env"
kubectl="$root/.devcluster/cache/kubernetes-$KUBE_VERSION/kubectl"
devcluster="$root/tools/devcluster/devcluster"

qps=1000 duration=30s connections=16 rounds=2 warmup=5s backend=fortio payload=1024
while (($#)); do
  case "$1" in
    --qps) qps="$2"; shift 2 ;;
    --duration) duration="$2"; shift 2 ;;
    --connections) connections="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --warmup) warmup="$2"; shift 2 ;;
    --backend) backend="$2"; shift 2 ;;
    --payload) payload="$2"; shift 2 ;;
    -h | --help) sed -n '2,29p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

"$devcluster" status >/dev/null 2>&1 || { echo "mtls-latency: the devcluster is not running (make cluster-up, then make deploy)" >&2; exit 1; }
"$kubectl" -n trellis-system rollout status deploy/trellis --timeout=10s >/dev/null 2>&1 || { echo "mtls-latency: Trellis is not installed (make deploy)" >&2; exit 1; }
fortio="${FORTIO:-$(go env GOPATH)/bin/fortio}"
if [[ ! -x "$fortio" ]]; then
  echo "installing fortio 1.68.0 (go install fortio.org/fortio@v1.68.0)" >&2
  go install fortio.org/fortio@v1.68.0
fi

case "$backend" in
  fortio) command="command: ['$fortio', server, -http-port, '8080', -grpc-port, disabled, -redirect-port, disabled]" path=/debug app_comm=fortio app_cmd=server ;;
  echo) command="" path=/ app_comm=node app_cmd=echo/server.js ;;
  *) echo "--backend is fortio or echo, got $backend" >&2; exit 2 ;;
esac

id="$(date +%s | tail -c 6)$RANDOM"
mesh="bench-mtls-$id" nomesh="bench-nomesh-$id"
cleanup() { "$kubectl" delete namespace "$mesh" "$nomesh" --wait=false >/dev/null 2>&1 || true; }
trap cleanup EXIT

app() { # namespace [labels]
  cat <<YAML
apiVersion: v1
kind: Namespace
metadata: {name: $1, labels: {${2:-}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: echo, namespace: $1}
spec:
  replicas: 1
  selector: {matchLabels: {app: echo}}
  template:
    metadata: {labels: {app: echo}}
    spec:
      terminationGracePeriodSeconds: 5
      containers:
      - name: echo
        image: trellis/echo:latest
        $command
        env:
        - {name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
        - {name: POD_NAMESPACE, valueFrom: {fieldRef: {fieldPath: metadata.namespace}}}
        ports: [{name: http, containerPort: 8080}]
        readinessProbe: {httpGet: {path: /, port: http}, periodSeconds: 1}
---
apiVersion: v1
kind: Service
metadata: {name: echo, namespace: $1}
spec:
  selector: {app: echo}
  ports: [{name: http, port: 8080, targetPort: 8080}]
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: $1, labels: {app: client}}
spec:
  terminationGracePeriodSeconds: 1
  containers: [{name: client, image: 'trellis/echo:latest', command: [sleep, infinity]}]
YAML
}

disable_tls() {
  "$kubectl" apply -f - >/dev/null <<YAML
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: echo, namespace: $mesh}
spec: {host: echo, trafficPolicy: {tls: {mode: DISABLE}}}
YAML
}

{ app "$nomesh"; echo "---"; app "$mesh" "trellis-injection: enabled"; } | "$kubectl" apply -f - >/dev/null
for ns in "$nomesh" "$mesh"; do
  until "$kubectl" -n "$ns" get pod client >/dev/null 2>&1 && [[ "$("$kubectl" -n "$ns" get pods --no-headers 2>/dev/null | wc -l)" -ge 2 ]]; do sleep 1; done
  "$kubectl" -n "$ns" wait --for=condition=Ready pod --all --timeout=180s >/dev/null
done

# One reply of the echo app to the namespace's client; the client certificate the app sees
# (x-forwarded-client-cert) is there with mTLS and not in plaintext.
reply() { "$devcluster" exec "$1/client" -- echo-client "http://echo:8080$path" 2>/dev/null | head -1; }
wait_for() { # description command...
  local what="$1"; shift
  for _ in $(seq 1 120); do "$@" && return 0; sleep 1; done
  echo "mtls-latency: timed out waiting for $what" >&2; exit 1
}
is_mtls() { local r; r="$(reply "$mesh")"; [[ "$r" == '{"status":200'* && "${r,,}" == *"x-forwarded-client-cert"*"uri=spiffe://cluster.local/ns/$mesh/sa/default"* ]]; }
is_plain() { local r; r="$(reply "$mesh")"; [[ "$r" == '{"status":200'* && "${r,,}" != *x-forwarded-client-cert* ]]; }
is_up() { [[ "$(reply "$nomesh")" == '{"status":200'* ]]; }

# Host pids of a pod's processes: envoy (the sidecar) and the echo app, by their env and command.
pid_of() { # ns pod-prefix comm [command line pattern]
  local p
  for p in $(pgrep -x "$3"); do
    tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "POD_NAMESPACE=$1" || continue
    tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -q "^POD_NAME=$2" || continue
    [[ -z "${4:-}" ]] || tr '\0' ' ' <"/proc/$p/cmdline" | grep -q -- "$4" || continue
    echo "$p"; return
  done
}
ticks() { [[ -n "$1" ]] && awk '{print $14 + $15}' "/proc/$1/stat" || echo 0; }
# Busy and total jiffies of the whole machine (every CPU).
machine() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9}' /proc/stat; }
hz="$(getconf CLK_TCK)"

results=()
run_mode() { # mode ns
  local mode="$1" ns="$2" ce se ap c0 s0 a0 m0 m1 json
  ce="$(pid_of "$ns" client envoy)" se="$(pid_of "$ns" echo- envoy)" ap="$(pid_of "$ns" echo- "$app_comm" "$app_cmd")"
  "$devcluster" exec "$ns/client" -- "$fortio" load -quiet -qps "$qps" -c "$connections" -t "$warmup" -payload-size "$payload" http://echo:8080/ >/dev/null 2>&1
  c0="$(ticks "$ce")" s0="$(ticks "$se")" a0="$(ticks "$ap")" m0="$(machine)"
  json="$("$devcluster" exec "$ns/client" -- "$fortio" load -quiet -qps "$qps" -c "$connections" -t "$duration" -payload-size "$payload" -r 0.00001 -p "50,90,99,99.9" -json - http://echo:8080/ 2>/dev/null)"
  m1="$(machine)"
  local line
  line="$(node -e '
    const r = JSON.parse(require("fs").readFileSync(0, "utf8"));
    const [mode, dc, ds, da, hz, m0, m1] = process.argv.slice(1);
    const [b0, t0] = m0.split(" ").map(Number), [b1, t1] = m1.split(" ").map(Number);
    const p = Object.fromEntries(r.DurationHistogram.Percentiles.map((x) => [x.Percentile, (x.Value * 1000).toFixed(3)]));
    const secs = r.ActualDuration / 1e9;
    const ok = r.RetCodes["200"] ?? 0;
    const cpu = (t) => (t / hz / secs).toFixed(3);
    console.log([mode, r.ActualQPS.toFixed(0), p[50], p[90], p[99], p["99.9"], r.DurationHistogram.Count - ok, cpu(dc), cpu(ds), cpu(da), ((b1 - b0) / (t1 - t0) * 100).toFixed(0) + "%"].join("\t"));
  ' "$mode" "$(($(ticks "$ce") - c0))" "$(($(ticks "$se") - s0))" "$(($(ticks "$ap") - a0))" "$hz" "$m0" "$m1" <<<"$json")"
  results+=("$line")
  printf '%s\n' "$line"
}

echo "mtls-latency: backend $backend, $(nproc) vCPUs ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)), $qps req/s, $connections connections, payload $payload B, $duration per run after $warmup warm-up, $rounds rounds; load average $(cut -d' ' -f1-3 /proc/loadavg)"
printf 'mode\tqps\tp50 ms\tp90 ms\tp99 ms\tp99.9 ms\tnon-200\tclient Envoy vCPU\tserver Envoy vCPU\tapp vCPU\tmachine busy\n'
wait_for "the plain namespace" is_up
wait_for "mTLS between the sidecars" is_mtls
for ((round = 1; round <= rounds; round++)); do
  # Alternate the order between rounds so that drift in the machine's load is shared.
  order=(nomesh plaintext mtls)
  ((round % 2 == 0)) && order=(mtls plaintext nomesh)
  for mode in "${order[@]}"; do
    case "$mode" in
      nomesh) run_mode nomesh "$nomesh" ;;
      plaintext) disable_tls; wait_for "plaintext between the sidecars" is_plain; run_mode plaintext "$mesh" ;;
      mtls) "$kubectl" -n "$mesh" delete destinationrule echo --ignore-not-found >/dev/null; wait_for "mTLS between the sidecars" is_mtls; run_mode mtls "$mesh" ;;
    esac
  done
done

# Medians per mode, and the sidecars' cost over no mesh (Istio 1.20 publishes +0.228 ms p90 and
# +0.298 ms p99 for two sidecars with mTLS at 1,000 req/s, 16 connections).
echo
printf '%s\n' "${results[@]}" | node -e '
  const rows = require("fs").readFileSync(0, "utf8").trim().split("\n").map((l) => l.split("\t"));
  const med = (xs) => { const s = xs.map(Number).sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
  const by = {};
  for (const r of rows) (by[r[0]] ??= []).push(r);
  const col = (mode, i) => med(by[mode].map((r) => r[i]));
  console.log("median over rounds\tp50 ms\tp90 ms\tp99 ms\tclient+server Envoy vCPU\tp90 over nomesh\tp99 over nomesh");
  for (const m of ["nomesh", "plaintext", "mtls"]) {
    if (!by[m]) continue;
    const d = (i) => (col(m, i) - col("nomesh", i)).toFixed(3);
    console.log([m, col(m, 2).toFixed(3), col(m, 3).toFixed(3), col(m, 4).toFixed(3), (col(m, 7) + col(m, 8)).toFixed(3), m === "nomesh" ? "" : `+${d(3)}`, m === "nomesh" ? "" : `+${d(4)}`].join("\t"));
  }
'
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
