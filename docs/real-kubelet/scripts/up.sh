#!/usr/bin/env bash
# Starts the experiment: etcd, kube-apiserver, kube-controller-manager, kube-scheduler (root
# network namespace, addresses of our own), and a node network namespace kexp-node holding
# containerd, the kubelet, dnsmasq and the CNI bridge kexp0 (no default route: nothing leaves).
# Idempotent: what runs is left running.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
[[ "$(id -u)" == 0 ]] || die "run as root"
for b in "$BIN/kubelet" "$BIN/kube-scheduler" "$BIN/pause" "$ETCD" "$KBIN/kube-apiserver" "$KBIN/kube-controller-manager" "$KBIN/kubectl"; do
  [[ -x "$b" ]] || die "missing $b (scripts/build.sh; make setup in /work/main)"
done
mkdir -p "$DATA" "$LOGS" "$RUN" "$PKI"

# --- sysctls the kubelet changes (vm.overcommit_memory, kernel.panic...): saved once, down.sh restores
if [[ ! -f "$DATA/sysctl.saved" ]]; then
  for s in vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops kernel.keys.root_maxkeys kernel.keys.root_maxbytes; do
    echo "$s=$(sysctl -n $s)"; done >"$DATA/sysctl.saved"
fi
# Host paths that a component may create outside data/ and that did not exist before: down.sh
# removes them (when empty of anything but ours).
if [[ ! -f "$DATA/absent-paths" ]]; then
  for d in /run/containerd /var/lib/cni /var/log/containers /var/log/pods /var/lib/kubelet /run/netns /etc/cni /opt/cni /usr/libexec/kubernetes /var/lib/containers; do
    [[ -e "$d" ]] || echo "$d"; done >"$DATA/absent-paths"
fi

# --- certificates ----------------------------------------------------------------------------
cert() { # NAME CN ORG [SANs]
  local name="$1" cn="$2" org="$3" sans="${4:-}"
  [[ -f "$PKI/$name.crt" ]] && return
  local ext="$PKI/$name.ext"
  { echo "basicConstraints=CA:FALSE"; echo "keyUsage=critical,digitalSignature,keyEncipherment"
    if [[ -n "$sans" ]]; then echo "extendedKeyUsage=serverAuth,clientAuth"; echo "subjectAltName=$sans"
    else echo "extendedKeyUsage=clientAuth"; fi; } >"$ext"
  local subj="/CN=$cn"; [[ -n "$org" ]] && subj="/O=$org/CN=$cn"
  openssl req -new -newkey rsa:2048 -nodes -keyout "$PKI/$name.key" -subj "$subj" -out "$PKI/$name.csr" 2>/dev/null
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
    -days 365 -sha256 -extfile "$ext" -out "$PKI/$name.crt" 2>/dev/null
  rm -f "$PKI/$name.csr" "$ext"
}
kubeconfig_for() { # CERTNAME PATH
  cat >"$2" <<EOK
apiVersion: v1
kind: Config
clusters:
- name: kexp
  cluster: {server: "$SERVER", certificate-authority: "$PKI/ca.crt"}
users:
- name: $1
  user: {client-certificate: "$PKI/$1.crt", client-key: "$PKI/$1.key"}
contexts:
- name: kexp
  context: {cluster: kexp, user: $1, namespace: default}
current-context: kexp
EOK
  chmod 600 "$2"
}
if [[ ! -f "$PKI/ca.crt" ]]; then
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$PKI/ca.key" -out "$PKI/ca.crt" -days 365 -subj "/CN=kexp-ca" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" 2>/dev/null
fi
cert apiserver kube-apiserver "" "IP:$HOST_LINK_IP,IP:127.0.0.1,IP:10.252.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
cert apiserver-kubelet-client kube-apiserver-kubelet-client system:masters
cert admin admin system:masters
cert controller-manager system:kube-controller-manager ""
cert scheduler system:kube-scheduler ""
cert kubelet "system:node:$NODE_NAME" system:nodes
cert kube-proxy system:kube-proxy ""
cert kubelet-serving "$NODE_NAME" "" "IP:$NODE_LINK_IP,DNS:$NODE_NAME"
[[ -f "$PKI/sa.key" ]] || { openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null; openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null; }
kubeconfig_for admin "$PKI/admin.kubeconfig"
kubeconfig_for controller-manager "$PKI/controller-manager.kubeconfig"
kubeconfig_for scheduler "$PKI/scheduler.kubeconfig"
kubeconfig_for kubelet "$PKI/kubelet.kubeconfig"
kubeconfig_for kube-proxy "$PKI/kube-proxy.kubeconfig"

# --- network: node namespace, host<->node veth, the CNI bridge made up front (dnsmasq binds it)
ip netns list | grep -qw "$NODE_NS" || ip netns add "$NODE_NS"
NSX=(ip netns exec "$NODE_NS")
"${NSX[@]}" ip link set lo up
if ! ip link show "$HOST_VETH" >/dev/null 2>&1; then
  ip link add "$HOST_VETH" type veth peer name "$NODE_VETH"
  ip link set "$NODE_VETH" netns "$NODE_NS"
  ip addr add "$HOST_LINK_IP/30" dev "$HOST_VETH"; ip link set "$HOST_VETH" up
  "${NSX[@]}" ip addr add "$NODE_LINK_IP/30" dev "$NODE_VETH"; "${NSX[@]}" ip link set "$NODE_VETH" up
fi
if ! "${NSX[@]}" ip link show "$BRIDGE" >/dev/null 2>&1; then
  "${NSX[@]}" ip link add "$BRIDGE" type bridge
  "${NSX[@]}" ip addr add "$BRIDGE_IP/24" dev "$BRIDGE"
  "${NSX[@]}" ip link set "$BRIDGE" up
fi
"${NSX[@]}" sysctl -qw net.ipv4.ip_forward=1
# The root namespace reaches pods through the node (as the API server must reach webhooks).
ip route replace "$POD_CIDR" via "$NODE_LINK_IP" dev "$HOST_VETH"

# --- cgroups: the kubelet's cgroupRoot must exist in every v1 hierarchy (and the v2 one) -----
for h in /sys/fs/cgroup/*/; do
  [[ -d "$h${CGROUP_ROOT#/}" ]] || mkdir "$h${CGROUP_ROOT#/}"
done
if [[ -z "$(tr -d '\n' <"/sys/fs/cgroup/cpuset${CGROUP_ROOT}/cpuset.cpus")" ]]; then
  cat /sys/fs/cgroup/cpuset/cpuset.cpus >"/sys/fs/cgroup/cpuset${CGROUP_ROOT}/cpuset.cpus"
  cat /sys/fs/cgroup/cpuset/cpuset.mems >"/sys/fs/cgroup/cpuset${CGROUP_ROOT}/cpuset.mems"
fi

# --- control plane -----------------------------------------------------------------------------
if ! running etcd; then
  say "etcd on 127.0.0.1:$ETCD_CLIENT_PORT"
  start etcd -- "$ETCD" --name kexp --data-dir "$DATA/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_CLIENT_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_CLIENT_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "kexp=http://127.0.0.1:$ETCD_PEER_PORT" --listen-metrics-urls "" --log-level warn
  wait_for etcd 60 curl -fsS "http://127.0.0.1:$ETCD_CLIENT_PORT/health"
fi
if ! running kube-apiserver; then
  say "kube-apiserver on $SERVER"
  start kube-apiserver -- "$KBIN/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$ETCD_CLIENT_PORT" \
    --bind-address "$HOST_LINK_IP" --advertise-address "$HOST_LINK_IP" --secure-port "$APISERVER_PORT" \
    --service-cluster-ip-range "$SERVICE_CIDR" --authorization-mode Node,RBAC --allow-privileged=true \
    --client-ca-file "$PKI/ca.crt" --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
    --kubelet-client-certificate "$PKI/apiserver-kubelet-client.crt" --kubelet-client-key "$PKI/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority "$PKI/ca.crt" --kubelet-preferred-address-types InternalIP \
    --service-account-issuer "https://kubernetes.default.svc.cluster.local" \
    --service-account-key-file "$PKI/sa.pub" --service-account-signing-key-file "$PKI/sa.key" \
    --enable-admission-plugins NamespaceLifecycle,LimitRanger,ServiceAccount,DefaultStorageClass,ResourceQuota,NodeRestriction,MutatingAdmissionWebhook,ValidatingAdmissionWebhook \
    --profiling=false --v=1
  wait_for kube-apiserver 120 curl -fsS --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" "$SERVER/readyz"
fi
say "kube-controller-manager, kube-scheduler"
start kube-controller-manager -- "$KBIN/kube-controller-manager" \
  --kubeconfig "$PKI/controller-manager.kubeconfig" \
  --authentication-kubeconfig "$PKI/controller-manager.kubeconfig" --authorization-kubeconfig "$PKI/controller-manager.kubeconfig" \
  --bind-address 127.0.0.1 --secure-port "$KCM_PORT" --leader-elect=false \
  --service-account-private-key-file "$PKI/sa.key" --root-ca-file "$PKI/ca.crt" --use-service-account-credentials=true \
  --cluster-signing-cert-file "$PKI/ca.crt" --cluster-signing-key-file "$PKI/ca.key" \
  --controllers '*,-node-ipam-controller,-cloud-node-lifecycle-controller,-node-route-controller,-service-lb-controller,-persistentvolume-binder-controller,-persistentvolume-attach-detach-controller,-persistentvolume-expander-controller,-ephemeral-volume-controller' \
  --v=1
start kube-scheduler -- "$BIN/kube-scheduler" --kubeconfig "$PKI/scheduler.kubeconfig" \
  --authentication-kubeconfig "$PKI/scheduler.kubeconfig" --authorization-kubeconfig "$PKI/scheduler.kubeconfig" \
  --bind-address 127.0.0.1 --secure-port "$SCHED_PORT" --leader-elect=false --v=1

# --- the node: containerd, images, dnsmasq, kubelet (all in the node's network namespace) -----
mkdir -p "$RUN/containerd" "$DATA/containerd" "$DATA/cni/ipam"
if ! running containerd; then
  say "containerd (socket $CONTAINERD_SOCK)"
  start containerd nsenter "--net=/var/run/netns/$NODE_NS" -- containerd --config "$CONF/containerd.toml"
  wait_for containerd 30 ctr --address "$CONTAINERD_SOCK" version
fi
"$KEXP/scripts/images.sh"
mkdir -p "$DATA/dns"; touch "$DATA/dns/hosts"
start dnsmasq nsenter "--net=/var/run/netns/$NODE_NS" -- dnsmasq --keep-in-foreground --no-daemon \
  --conf-file=/dev/null --no-resolv --no-hosts --addn-hosts="$DATA/dns/hosts" --bind-interfaces \
  --listen-address="$BRIDGE_IP" --local=/cluster.local/ --domain-needed --user=root --pid-file= --log-facility=-
sed -e "s#@PKI@#$PKI#g" -e "s#@DATA@#$DATA#g" -e "s#@SOCK@#$CONTAINERD_SOCK#g" -e "s#@NODE_IP@#$NODE_LINK_IP#g" \
  -e "s#@CGROUP_ROOT@#$CGROUP_ROOT#g" -e "s#@BRIDGE_IP@#$BRIDGE_IP#g" -e "s#@CONF@#$CONF#g" \
  "$CONF/kubelet-config.yaml.in" >"$DATA/kubelet-config.yaml"
if ! running kubelet; then
  say "kubelet (node $NODE_NAME, $NODE_LINK_IP)"
  start kubelet nsenter "--net=/var/run/netns/$NODE_NS" -- "$BIN/kubelet" \
    --config "$DATA/kubelet-config.yaml" --kubeconfig "$PKI/kubelet.kubeconfig" \
    --hostname-override "$NODE_NAME" --node-ip "$NODE_LINK_IP" --root-dir "$DATA/kubelet" --v=1
fi
# Services: the real kube-proxy (cached) in the node namespace, as the devcluster runs it; its
# iptables rules live in that namespace only. No global conntrack sysctls (the 0s).
start kube-proxy nsenter "--net=/var/run/netns/$NODE_NS" -- "$KBIN/kube-proxy" \
  --kubeconfig "$PKI/kube-proxy.kubeconfig" --hostname-override "$NODE_NAME" \
  --proxy-mode iptables --cluster-cidr "$CLUSTER_CIDR" --masquerade-all \
  --conntrack-max-per-core 0 --conntrack-tcp-timeout-established 0 --conntrack-tcp-timeout-close-wait 0 \
  --metrics-bind-address 127.0.0.1:10249 --healthz-bind-address 127.0.0.1:10256 --v=1
node_ready() { kc get node "$NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' | grep -qx True; }
wait_for "node $NODE_NAME Ready" 120 node_ready
wait_for "default service account" 60 kc get serviceaccount default
say "up: export KUBECONFIG=$KUBECONFIG"
kc get nodes -o wide
