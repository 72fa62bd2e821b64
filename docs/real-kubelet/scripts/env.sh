# Shared settings of the kubelet feasibility experiment (issue 14). Sourced by the other scripts.
# Nothing here overlaps the devcluster's (tools/devcluster/network.env): other ports, other
# addresses, other names, all state under /work/kexp/data.
KEXP=/work/kexp
DATA=$KEXP/data
BIN=$KEXP/bin
CONF=$KEXP/config
LOGS=$DATA/logs
RUN=$DATA/run
PKI=$DATA/pki
CACHE=/work/main/.devcluster/cache          # read-only: etcd, kube-apiserver, -controller-manager, kubectl
KUBE_VERSION=v1.34.4
KBIN=$CACHE/kubernetes-$KUBE_VERSION
ETCD=$CACHE/etcd-v3.6.16/etcd

NODE_NAME=kexp-node
NODE_NS=kexp-node                            # the node's network namespace (kubelet, containerd, CNI bridge)
HOST_VETH=kexp-host
NODE_VETH=kexp-node
HOST_LINK_IP=10.250.0.1                      # root-namespace end; kube-apiserver binds here
NODE_LINK_IP=10.250.0.2                      # node end; the kubelet's InternalIP (streaming server :10250)
BRIDGE=kexp0
POD_CIDR=10.251.0.0/24
BRIDGE_IP=10.251.0.1
CLUSTER_CIDR=10.251.0.0/16
SERVICE_CIDR=10.252.0.0/16
ETCD_CLIENT_PORT=23890
ETCD_PEER_PORT=23891
APISERVER_PORT=16443
KCM_PORT=20257
SCHED_PORT=20259
SERVER=https://$HOST_LINK_IP:$APISERVER_PORT
CONTAINERD_SOCK=$RUN/containerd/containerd.sock
CGROUP_ROOT=/kexp                            # kubelet's cgroupRoot: /sys/fs/cgroup/<subsystem>/kexp
KUBECONFIG=$PKI/admin.kubeconfig
export KUBECONFIG

say() { printf '\033[1m[kexp]\033[0m %s\n' "$*" >&2; }
die() { printf 'kexp: %s\n' "$*" >&2; exit 1; }
alive() { [[ -r "/proc/$1/stat" ]] && [[ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]]; }
running() { [[ -f "$RUN/$1.pid" ]] && alive "$(cat "$RUN/$1.pid")"; }
# start NAME [prefix...] -- CMD...: detached, logging to $LOGS/NAME.log, pid in $RUN/NAME.pid
start() {
  local name="$1"; shift
  local pre=()
  while [[ "$1" != "--" ]]; do pre+=("$1"); shift; done
  shift
  mkdir -p "$LOGS" "$RUN"
  running "$name" && return 0
  setsid "${pre[@]}" "$@" >>"$LOGS/$name.log" 2>&1 </dev/null &
  echo $! >"$RUN/$name.pid"
}
stop() {
  local f="$RUN/$1.pid" pid
  [[ -f "$f" ]] || return 0
  pid="$(cat "$f")"
  if alive "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do alive "$pid" || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}
wait_for() { # DESCRIPTION SECONDS CMD...
  local what="$1" secs="$2"; shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || die "timed out after ${secs}s waiting for $what (logs: $LOGS)"
    sleep 0.3
  done
}
kc() { "$KBIN/kubectl" --kubeconfig "$KUBECONFIG" "$@"; }
