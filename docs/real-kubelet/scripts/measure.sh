#!/usr/bin/env bash
# Memory (RSS) and CPU (over SECONDS, default 60) of the node's daemons: kubelet, containerd,
# the shims of our containerd, and for comparison the control plane.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
secs="${1:-60}"
tck=$(getconf CLK_TCK)
shims=()
for p in /proc/[0-9]*; do
  { tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null | grep -q -- "containerd-shim.*-address $CONTAINERD_SOCK" && shims+=("${p#/proc/}")
done
declare -A pids=()
for c in kubelet containerd kube-proxy dnsmasq kube-apiserver etcd kube-controller-manager kube-scheduler; do
  running "$c" && pids[$c]=$(cat "$RUN/$c.pid")
done
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
pss() { awk '/^Pss:/ {print $2}' "/proc/$1/smaps_rollup"; }
declare -A c0=(); for c in "${!pids[@]}"; do c0[$c]=$(cpu "${pids[$c]}"); done
s0=0; for p in "${shims[@]}"; do s0=$((s0 + $(cpu "$p"))); done
sleep "$secs"
printf 'pods running: %s   shims: %s   window: %ss\n' "$(kc get pods -A --no-headers 2>/dev/null | wc -l)" "${#shims[@]}" "$secs"
printf '%-26s %10s %10s\n' process RSS_MiB CPU_%
for c in kubelet containerd kube-proxy dnsmasq kube-apiserver etcd kube-controller-manager kube-scheduler; do
  [[ -n "${pids[$c]:-}" ]] || continue
  p=${pids[$c]}
  printf '%-26s %10.1f %10.2f\n' "$c" "$(echo "$(rss "$p") / 1024" | bc -l)" "$(echo "($(cpu "$p") - ${c0[$c]}) * 100 / $tck / $secs" | bc -l)"
done
s1=0; r=0; q=0; for p in "${shims[@]}"; do s1=$((s1 + $(cpu "$p"))); r=$((r + $(rss "$p"))); q=$((q + $(pss "$p"))); done
printf '%-26s %10.1f %10.2f   (PSS %.1f MiB: their shared text counted once)\n' "shims (all)" "$(echo "$r / 1024" | bc -l)" "$(echo "($s1 - $s0) * 100 / $tck / $secs" | bc -l)" "$(echo "$q / 1024" | bc -l)"
