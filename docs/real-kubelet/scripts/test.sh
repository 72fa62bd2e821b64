#!/usr/bin/env bash
# The proofs, against the running experiment (up.sh; proxy-image.sh for the mesh case): prints
# PASS/FAIL per claim and the evidence. Leaves no pods behind.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
M=$KEXP/manifests
export KBIN; export -f kc   # the checks run in bash -c
pass=0 fail=0
check() { # NAME CMD... : PASS when CMD succeeds
  local name="$1"; shift
  if "$@"; then printf '\033[32mPASS\033[0m %s\n' "$name"; pass=$((pass + 1)); else printf '\033[31mFAIL\033[0m %s\n' "$name"; fail=$((fail + 1)); fi
}
ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
kc delete -f "$M" --ignore-not-found --wait=true >/dev/null 2>&1
kc delete svc web --ignore-not-found >/dev/null 2>&1

echo "== a pod runs; readiness (HTTP probe) gates Ready; pod IP on the bridge"
t0=$(date +%s%N); kc apply -f "$M/web.yaml" -f "$M/client.yaml" >/dev/null
kc wait --for=condition=Ready pod/web pod/client --timeout=60s >/dev/null
echo "   web+client create->Ready: $(ms "$t0") ms"
webip=$(kc get pod web -o jsonpath='{.status.podIP}'); clientip=$(kc get pod client -o jsonpath='{.status.podIP}')
echo "   web $webip, client $clientip"; ip netns exec "$NODE_NS" bridge link show master "$BRIDGE" | awk '{print "   bridge port:", $2}'
check "pod IPs in $POD_CIDR" bash -c "[[ $webip == 10.251.0.* && $clientip == 10.251.0.* ]]"
check "kubectl exec (kubelet streaming server via the API server)" bash -c "[[ \$(kc exec client -- hostname) == client ]]"
check "pod-to-pod on the bridge (client -> web:8080)" bash -c "[[ \$(kc exec client -- wget -qO- http://$webip:8080/) == hello-from-kexp ]]"
check "kubectl logs" bash -c "kc logs client >/dev/null"

echo "== Services (kube-proxy in the node namespace) and cluster DNS (dnsmasq on $BRIDGE_IP)"
kc expose pod web --port 80 --target-port 8080 >/dev/null
svc=$(kc get svc web -o jsonpath='{.spec.clusterIP}')
printf '%s\tweb.default.svc.cluster.local\n' "$svc" >"$DATA/dns/hosts"; kill -HUP "$(cat "$RUN/dnsmasq.pid")"
sleep 2
check "ClusterIP $svc reaches the pod" bash -c "[[ \$(kc exec client -- wget -qO- http://$svc/) == hello-from-kexp ]]"
check "hairpin (web -> its own Service)" bash -c "[[ \$(kc exec web -- wget -qO- http://$svc/) == hello-from-kexp ]]"
check "DNS name 'web' from the pod's resolv.conf" bash -c "[[ \$(kc exec client -- wget -qO- http://web/) == hello-from-kexp ]]"
kc delete svc web >/dev/null

echo "== native sidecar: starts before the app, its readiness gates the pod, stops after the app"
rm -rf "$DATA/shared/sidecar"
kc apply -f "$M/sidecar.yaml" >/dev/null
kc wait --for=jsonpath='{.status.containerStatuses[0].started}'=true pod/sidecar --timeout=60s >/dev/null; sleep 3
r=$(kc get pod sidecar -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')
check "pod not Ready while the sidecar's readiness fails (Ready=$r)" test "$r" = False
kc exec sidecar -c proxy -- touch /tmp/ready
t0=$(date +%s%N); kc wait --for=condition=Ready pod/sidecar --timeout=30s >/dev/null; echo "   Ready $(ms "$t0") ms after the sidecar became ready"
check "pod Ready once the sidecar is" test "$(kc get pod sidecar -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" = True
t0=$(date +%s%N); kc delete pod sidecar --wait=true >/dev/null; echo "   deleted in $(ms "$t0") ms (app drains 2 s on SIGTERM)"
sed 's/^/   /' "$DATA/shared/sidecar/events"
order=$(awk '{printf "%s ", $1}' "$DATA/shared/sidecar/events")
check "order: proxy-start app-start app-term app-exit proxy-term" test "$order" = "proxy-start app-start app-term app-exit proxy-term "

echo "== security context: UID 1337, read-only root, capabilities; init container with only NET_ADMIN+NET_RAW"
kc apply -f "$M/secure.yaml" >/dev/null; kc wait --for=condition=Ready pod/secure --timeout=60s >/dev/null
st=$(kc exec secure -c proxy -- cat /proc/1/status)
echo "$st" | grep -E '^(Uid|Gid|CapPrm|CapEff|CapBnd|NoNewPrivs)' | sed 's/^/   proxy: /'
kc logs secure -c init-net | sed 's/^/   init-net: /'
check "proxy runs as 1337" bash -c "grep -q \$'^Uid:\t1337\t1337\t1337\t1337' <<<\"\$0\"" "$st"
check "proxy bounding set = NET_ADMIN|NET_RAW (0x3000), effective empty (non-root)" bash -c "grep -q 'CapBnd:.*0000000000003000' <<<\"\$0\" && grep -q 'CapEff:.*0000000000000000' <<<\"\$0\"" "$st"
check "read-only root filesystem" bash -c "kc exec secure -c proxy -- touch /x 2>&1 | grep -q 'Read-only file system'"
check "init container: root with exactly NET_ADMIN+NET_RAW, and NET_ADMIN works" bash -c "kc logs secure -c init-net | grep -q 'CapEff:.*0000000000003000' && kc logs secure -c init-net | grep -q NET_ADMIN-ok"
check "no host files in the pod (/work absent)" bash -c "kc exec secure -c proxy -- ls /work 2>&1 | grep -q 'No such file'"
t0=$(date +%s%N); kc delete pod secure --wait=true >/dev/null; d=$(ms "$t0")
check "SIGTERM ignored -> SIGKILL after the 4 s grace period (deleted in $d ms)" bash -c "(( $d >= 4000 && $d < 9000 ))"

echo "== volumes: ConfigMap, Secret, projected SA token, emptyDir (Memory), downward API"
kc apply -f "$M/volumes.yaml" >/dev/null; kc wait --for=condition=Ready pod/volumes --timeout=60s >/dev/null; sleep 1
kc logs volumes | sed 's/^/   /'
check "volumes mounted and readable as 1337" bash -c "kc logs volumes | grep -q 'hello: configmap' && kc logs volumes | grep -q not-a-real-key && kc logs volumes | grep -qx ok"

if ctr --address "$CONTAINERD_SOCK" -n k8s.io images ls -q | grep -qx docker.io/kexp/proxy:1; then
  echo "== mesh pod shape: iptables init (nft) + native-sidecar Envoy 1.36.4 (1337, RO root) + app; outbound captured"
  t0=$(date +%s%N); kc apply -f "$M/mesh.yaml" >/dev/null; kc wait --for=condition=Ready pod/mesh --timeout=60s >/dev/null
  echo "   mesh create->Ready: $(ms "$t0") ms"
  check "app's outbound TCP is redirected to Envoy's 15001" bash -c "[[ \$(kc exec mesh -c app -- wget -qO- http://$webip:8080/) == captured-by-envoy ]]"
  check "Envoy's own traffic (UID 1337) is not captured" bash -c "[[ \$(kc exec mesh -c trellis-proxy -- busybox wget -qO- http://$webip:8080/) == hello-from-kexp ]]"
  check "Envoy LIVE as 1337 with no capabilities" bash -c "kc exec mesh -c trellis-proxy -- busybox wget -qO- http://127.0.0.1:15000/server_info | grep -q '\"state\": \"LIVE\"' && kc exec mesh -c trellis-proxy -- busybox grep -q 'CapEff:.*0000000000000000' /proc/1/status"
fi

kc delete -f "$M" --ignore-not-found --wait=true >/dev/null 2>&1
echo "tests: $pass passed, $fail failed"
((fail == 0))
