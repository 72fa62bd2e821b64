#!/usr/bin/env bash
# Stops everything up.sh started and removes what it made outside /work/kexp: pods (through the
# kubelet, so CNI DEL runs and containerd removes its cni-* namespaces), processes (by pid),
# mounts under data/, the node namespace, veth, route, cgroups under /kexp, host paths that did
# not exist before, and the sysctls the kubelet changed. `down.sh purge` also deletes data/.
# Idempotent.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
[[ "$(id -u)" == 0 ]] || die "run as root"

# 1. Pods away while the kubelet still runs (graceful: their sandboxes and CNI state go too).
if running kubelet && running kube-apiserver; then
  say "deleting pods"
  kc delete pods --all --all-namespaces --grace-period=5 --wait=true --timeout=60s >/dev/null 2>&1 || true
fi
# 2. Node and control plane processes, by their pid files.
for c in kube-proxy kubelet dnsmasq kube-scheduler kube-controller-manager kube-apiserver etcd; do stop "$c"; done
# containerd's shims outlive it by design: find the ones of OUR containerd (their command line
# names our socket) and end them by pid, with the containers they hold.
ctrx=(ctr --address "$CONTAINERD_SOCK" -n k8s.io)
if running containerd; then
  for id in $("${ctrx[@]}" tasks ls -q 2>/dev/null); do "${ctrx[@]}" tasks kill -s KILL "$id" >/dev/null 2>&1 || true; done
  sleep 1
  for id in $("${ctrx[@]}" tasks ls -q 2>/dev/null); do "${ctrx[@]}" tasks delete -f "$id" >/dev/null 2>&1 || true; done
fi
stop containerd
for p in /proc/[0-9]*; do
  pid=${p#/proc/}
  if { tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null | grep -q -- "containerd-shim.*-address $CONTAINERD_SOCK"; then
    say "ending shim $pid"; kill -KILL "$pid" 2>/dev/null || true
  fi
done
# 3. Mounts: rootfs overlays, shm, secrets' tmpfs, under data/; the pods' namespaces containerd pinned.
grep -F " $DATA/" /proc/mounts | awk '{print $2}' | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
for ns in /run/netns/cni-*; do
  [[ -e "$ns" ]] || continue
  # only namespaces whose pods were ours: containerd's sandbox records name them
  if grep -rqsa "$(basename "$ns")" "$DATA/containerd/root" 2>/dev/null; then
    umount "$ns" 2>/dev/null || true; rm -f "$ns"
  fi
done
# 4. Network: the node namespace (the bridge and the pods' veths die with it), veth, route.
ip route del "$POD_CIDR" 2>/dev/null || true
ip link delete "$HOST_VETH" 2>/dev/null || true
if ip netns list | grep -qw "$NODE_NS"; then
  ip netns pids "$NODE_NS" 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
  ip netns delete "$NODE_NS"
fi
# 5. cgroups under the kubelet's root, deepest first.
for h in /sys/fs/cgroup/*/; do
  d="$h${CGROUP_ROOT#/}"
  [[ -d "$d" ]] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null || true
  [[ -d "$d" ]] && say "could not remove cgroup $d (processes left?)"
done
# 6. The kubelet's sysctls back to what they were.
if [[ -f "$DATA/sysctl.saved" ]]; then
  while IFS='=' read -r k v; do sysctl -qw "$k=$v"; done <"$DATA/sysctl.saved"
  rm -f "$DATA/sysctl.saved"
fi
# 7. Host paths that did not exist before up.sh and that components made anyway.
if [[ -f "$DATA/absent-paths" ]]; then
  while read -r d; do
    [[ -e "$d" ]] || continue
    if [[ "$d" == /run/netns ]]; then
      if [[ -z "$(ls -A /run/netns)" ]]; then umount /run/netns 2>/dev/null || true; rmdir /run/netns; fi
      continue
    fi
    # buildah's blob-info cache lands in /var/lib/containers/cache whatever --root says; anything
    # else there (an image storage) is someone else's.
    if [[ "$d" == /var/lib/containers ]] && find "$d" -mindepth 1 | grep -qv '^/var/lib/containers/cache'; then
      say "leaving $d (holds more than our blob-info cache)"; rm -rf "$d/cache"; continue
    fi
    say "removing $d (made during the experiment): $(find "$d" | wc -l) entries"
    rm -rf "$d"
  done <"$DATA/absent-paths"
  rm -f "$DATA/absent-paths"
fi
[[ "${1:-}" == purge ]] && { say "purging $DATA"; rm -rf "$DATA"; }
say "down"
