#!/usr/bin/env bash
# authz-latency: what authorization rules cost a request. As bench/mtls-latency.sh: fortio runs in
# a client pod's network namespace (`devcluster exec`: the pod's capture rules send its traffic
# through the pod's sidecar) at a fixed rate against the Service `echo` (whose app is `fortio
# server`), with mutual TLS between the sidecars (the default), three ways:
#   rules0    no AuthorizationPolicy in the namespace
#   rules10   10 ALLOW rules applying to the server workload (selector app=echo)
#   rules100  100 ALLOW rules applying to the server workload
# The rules mostly do NOT match the fortio client's requests; the one that does (principal
# cluster.local/ns/<ns>/sa/default, POST/GET, path /*) is in the policy `zz-allow-client`,
# whose RBAC policy name sorts last (Envoy evaluates a filter's policies in name order and stops
# at the first match), so every request is checked against every rule. The others mix: peer
# principals (exact, and suffix wildcards, i.e. regexes) with a permission that matches, so the
# principal side is evaluated too; source namespaces; paths exact, prefix and suffix; methods;
# header conditions (request.headers[...]). The script checks each mode before measuring: the
# server Envoy holds exactly N RBAC rules (admin config_dump: the sidecar's inbound HTTP rules
# come per route, over RDS), the client's POST is answered 200 and, with rules, a DELETE (no rule
# allows it) 403; after each run it prints the server Envoy's RBAC allowed/denied counters. When
# a policy change has not reached the server Envoy after 15 s, it forces a push by changing a
# VirtualService in the namespace and says so (at 2d717de a policy change pushed only listeners,
# not the inbound routes that hold a sidecar's HTTP rules).
# For each: fortio's p50/p90/p99/p99.9 (histogram resolution 10 us), the CPU time of the two
# Envoy processes (the server's runs the RBAC filter) and of the app from /proc/<pid>/stat during
# the measured run, and how busy the whole machine was.
#
#   bench/authz-latency.sh [--qps 1000] [--duration 30s] [--connections 16] [--rounds 2]
#                          [--payload 1024] [--rules 0,10,100]
#
# 1 KB POST payloads echoed back by the app (`--payload 0` sends GETs), 16 de-synchronised
# connections (fortio -uniform), as bench/mtls-latency.sh.
#
# Needs the running devcluster with Trellis installed (make cluster-up && make deploy) and
# fortio 1.68 ($FORTIO, or $(go env GOPATH)/bin/fortio; installed with `go install` if missing).
# Creates and deletes the namespace bench-authz-<id>. Record the results in BENCHMARKS.md with
# the machine and the date.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export KUBECONFIG="${KUBECONFIG:-$root/.devcluster/kubeconfig}"
source "$root/tools/devcluster/versions.env"
kubectl="$root/.devcluster/cache/kubernetes-$KUBE_VERSION/kubectl"
devcluster="$root/tools/devcluster/devcluster"

qps=1000 duration=30s connections=16 rounds=2 warmup=5s payload=1024 uniform=-uniform rules_list=0,10,100
while (($#)); do
  case "$1" in
    --qps) qps="$2"; shift 2 ;;
    --duration) duration="$2"; shift 2 ;;
    --connections) connections="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --warmup) warmup="$2"; shift 2 ;;
    --payload) payload="$2"; shift 2 ;;
    --rules) rules_list="$2"; shift 2 ;;
    -h | --help) sed -n '2,35p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
IFS=, read -r -a modes <<<"$rules_list"

"$devcluster" status >/dev/null 2>&1 || { echo "authz-latency: the devcluster is not running (make cluster-up, then make deploy)" >&2; exit 1; }
"$kubectl" -n trellis-system rollout status deploy/trellis --timeout=10s >/dev/null 2>&1 || { echo "authz-latency: Trellis is not installed (make deploy)" >&2; exit 1; }
fortio="${FORTIO:-$(go env GOPATH)/bin/fortio}"
if [[ ! -x "$fortio" ]]; then
  echo "installing fortio 1.68.0 (go install fortio.org/fortio@v1.68.0)" >&2
  go install fortio.org/fortio@v1.68.0
fi

id="$(date +%s | tail -c 6)$RANDOM"
ns="bench-authz-$id"
cleanup() { "$kubectl" delete namespace "$ns" --wait=false >/dev/null 2>&1 || true; }
trap cleanup EXIT

"$kubectl" apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Namespace
metadata: {name: $ns, labels: {trellis-injection: enabled}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: echo, namespace: $ns}
spec:
  replicas: 1
  selector: {matchLabels: {app: echo}}
  template:
    metadata: {labels: {app: echo}}
    spec:
      terminationGracePeriodSeconds: 5
      containers:
      - name: echo
        image: trellis/echo:${IMAGE_TAG:-dev}
        command: ['$fortio', server, -http-port, '8080', -grpc-port, disabled, -redirect-port, disabled]
        env:
        - {name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
        - {name: POD_NAMESPACE, valueFrom: {fieldRef: {fieldPath: metadata.namespace}}}
        ports: [{name: http, containerPort: 8080}]
        readinessProbe: {httpGet: {path: /, port: http}, periodSeconds: 1}
---
apiVersion: v1
kind: Service
metadata: {name: echo, namespace: $ns}
spec:
  selector: {app: echo}
  ports: [{name: http, port: 8080, targetPort: 8080}]
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: $ns, labels: {app: client}}
spec:
  terminationGracePeriodSeconds: 1
  containers: [{name: client, image: 'trellis/echo:${IMAGE_TAG:-dev}', command: [sleep, infinity]}]
YAML
until "$kubectl" -n "$ns" get pod client >/dev/null 2>&1 && [[ "$("$kubectl" -n "$ns" get pods --no-headers 2>/dev/null | wc -l)" -ge 2 ]]; do sleep 1; done
"$kubectl" -n "$ns" wait --for=condition=Ready pod --all --timeout=180s >/dev/null
server_pod="$("$kubectl" -n "$ns" get pods -l app=echo -o jsonpath='{.items[0].metadata.name}')"

# One rule that does not match the fortio client's requests (POST / from
# cluster.local/ns/$ns/sa/default, no x-tenant or x-api-key header), of four kinds.
rule() { # index
  local r="$1"
  case $((r % 4)) in
    0) # permission matches (POST /), principal does not: both sides evaluated
      cat <<YAML
  - from: [{source: {principals: [cluster.local/ns/other-$r/sa/frontend, cluster.local/ns/$ns/sa/worker-$r]}}]
    to: [{operation: {methods: [POST, GET], paths: ['/*']}}]
YAML
      ;;
    1) # a GET to exact, prefix and suffix paths from other namespaces
      cat <<YAML
  - from: [{source: {namespaces: [team-$r, team-$((r + 1))]}}]
    to: [{operation: {methods: [GET], paths: [/api/v1/items/$r, '/static/$r/*', '*.json']}}]
YAML
      ;;
    2) # permission matches, a suffix-wildcard principal (a regex) and a header condition do not
      cat <<YAML
  - from: [{source: {principals: ['*/sa/batch-$r']}}]
    to: [{operation: {paths: ['/*']}}]
    when: [{key: 'request.headers[x-tenant]', values: [tenant-$r, 'tenant-$r-*']}]
YAML
      ;;
    3) # POST to prefix and suffix paths the client does not call, with a header condition
      cat <<YAML
  - to: [{operation: {methods: [POST, PUT], paths: ['/v2/$r/*', '*/upload-$r']}}]
    when: [{key: 'request.headers[x-api-key]', values: [key-$r]}]
YAML
      ;;
  esac
}

# The policies of a mode with N rules: N-1 non-matching rules in policies bench-00, bench-01, ...
# (10 rules each), and zz-allow-client's one matching rule, last in name order.
policies() { # rules
  local n="$1" r=0 p=0
  ((n > 0)) || return 0
  while ((r < n - 1)); do
    printf -- '---\napiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: bench-%02d, namespace: %s}\nspec:\n  selector: {matchLabels: {app: echo}}\n  action: ALLOW\n  rules:\n' "$p" "$ns"
    local k=0
    while ((k < 10 && r < n - 1)); do rule "$r"; r=$((r + 1)) k=$((k + 1)); done
    p=$((p + 1))
  done
  cat <<YAML
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: zz-allow-client, namespace: $ns}
spec:
  selector: {matchLabels: {app: echo}}
  action: ALLOW
  rules:
  - from: [{source: {principals: [cluster.local/ns/$ns/sa/default]}}]
    to: [{operation: {methods: [POST, GET], paths: ['/*']}}]
YAML
}

apply_rules() { # rules
  local yaml names
  yaml="$(policies "$1")"
  [[ -z "$yaml" ]] || "$kubectl" apply -f - >/dev/null <<<"$yaml"
  names="$(grep -o 'name: [a-z0-9-]*, namespace' <<<"$yaml" | cut -d' ' -f2 | tr -d ',' | sort || true)"
  for old in $("$kubectl" -n "$ns" get authorizationpolicies -o name 2>/dev/null | cut -d/ -f2 | sort); do
    grep -qx "$old" <<<"$names" || "$kubectl" -n "$ns" delete authorizationpolicy "$old" >/dev/null
  done
}

# A VirtualService for a host nobody calls, changed each time: a namespace config change, after
# which Trellis pushes every resource type to the namespace's proxies.
nudge=0
nudge_push() { # n
  "$kubectl" apply -f - >/dev/null <<YAML
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: authz-bench-nudge, namespace: $ns}
spec:
  hosts: [nudge.authz-bench.invalid]
  exportTo: ['.']
  http: [{match: [{headers: {x-nudge: {exact: '$1'}}}], route: [{destination: {host: nudge.authz-bench.invalid}}]}]
YAML
}

# The number of distinct RBAC rules (policy names) the server Envoy holds (in its inbound routes).
server_rules() {
  { "$devcluster" exec -c trellis-proxy "$ns/$server_pod" -- node -e 'fetch(process.argv[1]).then((r) => r.text()).then((t) => process.stdout.write(t))' 'http://127.0.0.1:15000/config_dump' 2>/dev/null || true; } |
    { grep -o "ns\[$ns\]-policy\[[a-z0-9-]*\]-rule\[[0-9]*\]" || true; } | sort -u | wc -l
}
status_of() { # method
  "$devcluster" exec "$ns/client" -- echo-client -X "$1" http://echo:8080/ 2>/dev/null | head -1 | sed -n 's/^{"status":\([0-9]*\).*/\1/p'
}
wait_for() { # description command...
  local what="$1"; shift
  for _ in $(seq 1 120); do "$@" && return 0; sleep 1; done
  echo "authz-latency: timed out waiting for $what" >&2; exit 1
}
in_effect() { # rules
  [[ "$(server_rules)" == "$1" && "$(status_of POST)" == 200 ]] || return 1
  if (($1 > 0)); then [[ "$(status_of DELETE)" == 403 ]]; else [[ "$(status_of DELETE)" == 200 ]]; fi
}

# Host pids of a pod's processes: envoy (the sidecar) and the app, by their env and command.
pid_of() { # ns pod-prefix comm [command line pattern]
  local p
  for p in $(pgrep -x "$3"); do
    tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "POD_NAMESPACE=$1" || continue
    tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -q "^POD_NAME=$2" || continue
    [[ -z "${4:-}" ]] || tr '\0' ' ' <"/proc/$p/cmdline" | grep -q -- "$4" || continue
    echo "$p"; return
  done
}
ticks() { if [[ -n "$1" ]]; then awk '{print $14 + $15}' "/proc/$1/stat"; else echo 0; fi; }
machine() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9}' /proc/stat; }
hz="$(getconf CLK_TCK)"
ce="$(pid_of "$ns" client envoy)" se="$(pid_of "$ns" echo- envoy)" ap="$(pid_of "$ns" echo- fortio server)"
[[ -n "$ce" && -n "$se" && -n "$ap" ]] || { echo "authz-latency: could not find the pods' processes (client envoy '$ce', server envoy '$se', app '$ap')" >&2; exit 1; }
# The server Envoy's RBAC counters for inbound port 8080 (allowed, denied), to show every request went through the filter.
rbac_stats() {
  { "$devcluster" exec -c trellis-proxy "$ns/$server_pod" -- node -e 'fetch(process.argv[1]).then((r) => r.text()).then((t) => process.stdout.write(t))' 'http://127.0.0.1:15000/stats?filter=rbac' 2>/dev/null || true; } |
    awk -F': ' '/rbac\.allowed/ {a += $2} /rbac\.denied/ {d += $2} END {print a + 0, d + 0}'
}

results=()
run() { # mode
  local mode="$1" c0 s0 a0 m0 m1 json line r0 r1
  local load=("$devcluster" exec "$ns/client" -- "$fortio" load -quiet $uniform -qps "$qps" -c "$connections" -payload-size "$payload")
  "${load[@]}" -t "$warmup" http://echo:8080/ >/dev/null 2>&1
  r0="$(rbac_stats)"
  c0="$(ticks "$ce")" s0="$(ticks "$se")" a0="$(ticks "$ap")" m0="$(machine)"
  json="$("${load[@]}" -t "$duration" -r 0.00001 -p "50,90,99,99.9" -json - http://echo:8080/ 2>/dev/null)"
  m1="$(machine)"
  local dc=$(($(ticks "$ce") - c0)) ds=$(($(ticks "$se") - s0)) da=$(($(ticks "$ap") - a0))
  r1="$(rbac_stats)"
  line="$(node -e '
    const r = JSON.parse(require("fs").readFileSync(0, "utf8"));
    const [mode, dc, ds, da, hz, m0, m1, r0, r1] = process.argv.slice(1);
    const [b0, t0] = m0.split(" ").map(Number), [b1, t1] = m1.split(" ").map(Number);
    const [a0, d0] = r0.split(" ").map(Number), [a1, d1] = r1.split(" ").map(Number);
    const p = Object.fromEntries(r.DurationHistogram.Percentiles.map((x) => [x.Percentile, (x.Value * 1000).toFixed(3)]));
    const secs = r.ActualDuration / 1e9;
    const ok = r.RetCodes["200"] ?? 0;
    const cpu = (t) => (t / hz / secs).toFixed(3);
    console.log([mode, r.ActualQPS.toFixed(0), p[50], p[90], p[99], p["99.9"], r.DurationHistogram.Count - ok, cpu(dc), cpu(ds), cpu(da), ((b1 - b0) / (t1 - t0) * 100).toFixed(0) + "%", `${a1 - a0}/${d1 - d0}`].join("\t"));
  ' "$mode" "$dc" "$ds" "$da" "$hz" "$m0" "$m1" "$r0" "$r1" <<<"$json")"
  results+=("$line")
  printf '%s\n' "$line"
}

echo "authz-latency: $(nproc) vCPUs ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)), $qps req/s, $connections connections${uniform:+ (uniform)}, payload $payload B, $duration per run after $warmup warm-up, $rounds rounds, rules ${modes[*]}, namespace $ns, $(date -u +%FT%TZ); load average $(cut -d' ' -f1-3 /proc/loadavg)"
printf 'mode\tqps\tp50 ms\tp90 ms\tp99 ms\tp99.9 ms\tnon-200\tclient Envoy vCPU\tserver Envoy vCPU\tapp vCPU\tmachine busy\tRBAC allowed/denied\n'
for ((round = 1; round <= rounds; round++)); do
  # Alternate the order between rounds so that drift in the machine's load is shared.
  order=("${modes[@]}")
  if ((round % 2 == 0)); then order=(); for ((i = ${#modes[@]} - 1; i >= 0; i--)); do order+=("${modes[i]}"); done; fi
  for n in "${order[@]}"; do
    apply_rules "$n"
    arrived=0
    for _ in $(seq 1 15); do in_effect "$n" && { arrived=1; break; }; sleep 1; done
    if ((!arrived)); then
      # The policy change did not reach the server Envoy's inbound routes (over RDS) on its own:
      # any config change of the namespace pushes every type to its proxies.
      echo "authz-latency: rules$n not in the server's Envoy after 15 s; nudging a push with a VirtualService change" >&2
      nudge=$((nudge + 1))
      nudge_push "$nudge"
      wait_for "$n rules in the server's Envoy" in_effect "$n"
    fi
    run "rules$n"
  done
done

echo
printf '%s\n' "${results[@]}" | node -e '
  const rows = require("fs").readFileSync(0, "utf8").trim().split("\n").map((l) => l.split("\t"));
  const med = (xs) => { const s = xs.map(Number).sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
  const by = {};
  for (const r of rows) (by[r[0]] ??= []).push(r);
  const col = (mode, i) => med(by[mode].map((r) => r[i]));
  const base = Object.keys(by).find((m) => m === "rules0");
  console.log("median over rounds\tp50 ms\tp90 ms\tp99 ms\tp99.9 ms\tserver Envoy vCPU\tclient Envoy vCPU\tover rules0: p50 / p90 / p99 / p99.9 ms, server Envoy vCPU");
  for (const m of Object.keys(by)) {
    const d = (i, f = 3) => `${col(m, i) - col(base, i) >= 0 ? "+" : ""}${(col(m, i) - col(base, i)).toFixed(f)}`;
    console.log([m, col(m, 2).toFixed(3), col(m, 3).toFixed(3), col(m, 4).toFixed(3), col(m, 5).toFixed(3), col(m, 8).toFixed(3), col(m, 7).toFixed(3), base && m !== base ? `${d(2)} / ${d(3)} / ${d(4)} / ${d(5)}, ${d(8)}` : ""].join("\t"));
  }
'
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
