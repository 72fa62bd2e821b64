#!/usr/bin/env python3
"""Pod start latency (create -> Ready, as a watch on the API sees it) under the real kubelet.
usage: podstart.py N [plain|sidecar] [seq|burst]
  plain:   one busybox container (sleep), no probe
  sidecar: a native sidecar (restartPolicy Always, httpd on 15021 with an HTTP readiness probe
           every 1s, as the proxy's health port) + the app
Prints p50/p90/p99/max in ms, then deletes the pods."""
import http.client, json, os, ssl, sys, threading, time
PKI = '/work/kexp/data/pki'
HOST, PORT = '10.250.0.1', 16443
ctx = ssl.create_default_context(cafile=f'{PKI}/ca.crt')
ctx.load_cert_chain(f'{PKI}/admin.crt', f'{PKI}/admin.key')
def conn(): return http.client.HTTPSConnection(HOST, PORT, context=ctx, timeout=120)
def req(method, path, body=None):
    c = conn(); c.request(method, path, body=json.dumps(body) if body else None, headers={'Content-Type': 'application/json'})
    r = c.getresponse(); data = r.read(); c.close()
    if r.status >= 300: raise RuntimeError(f'{method} {path}: {r.status} {data[:300]}')
    return json.loads(data)
n = int(sys.argv[1]); kind = sys.argv[2] if len(sys.argv) > 2 else 'plain'; mode = sys.argv[3] if len(sys.argv) > 3 else 'seq'
loop = ['sh', '-c', "trap 'exit 0' TERM; while true; do sleep 1 & wait $!; done"]
def pod(name):
    c = {'name': 'app', 'image': 'kexp/busybox:1', 'imagePullPolicy': 'Never', 'command': loop}
    spec = {'terminationGracePeriodSeconds': 2, 'containers': [c]}
    if kind == 'sidecar':
        spec['initContainers'] = [{'name': 'proxy', 'image': 'kexp/busybox:1', 'imagePullPolicy': 'Never', 'restartPolicy': 'Always',
            'command': ['httpd', '-f', '-p', '15021', '-h', '/www'],
            'readinessProbe': {'httpGet': {'path': '/', 'port': 15021}, 'periodSeconds': 1}}]
    return {'apiVersion': 'v1', 'kind': 'Pod', 'metadata': {'name': name, 'labels': {'podstart': 'yes'}}, 'spec': spec}
ready, created = {}, {}
rv = req('GET', '/api/v1/namespaces/default/pods?labelSelector=podstart%3Dyes')['metadata']['resourceVersion']
def watch():
    c = conn(); c.request('GET', f'/api/v1/namespaces/default/pods?watch=1&labelSelector=podstart%3Dyes&resourceVersion={rv}')
    r = c.getresponse()
    buf = b''
    while len(ready) < n:
        chunk = r.read1(65536) if hasattr(r, 'read1') else r.read(1)
        if not chunk: break
        buf += chunk
        while b'\n' in buf:
            line, buf = buf.split(b'\n', 1)
            ev = json.loads(line); o = ev['object']; name = o['metadata']['name']
            for cond in o.get('status', {}).get('conditions', []) or []:
                if cond['type'] == 'Ready' and cond['status'] == 'True' and name not in ready:
                    ready[name] = time.monotonic()
t = threading.Thread(target=watch, daemon=True); t.start()
time.sleep(0.3)
names = [f'ps-{kind}-{i}' for i in range(n)]
for name in names:
    created[name] = time.monotonic(); req('POST', '/api/v1/namespaces/default/pods', pod(name))
    if mode == 'seq':
        while name not in ready: time.sleep(0.01)
t.join(timeout=300)
lat = sorted((ready[k] - created[k]) * 1000 for k in names if k in ready)
def pct(p): return lat[min(len(lat) - 1, int(round(p / 100 * len(lat) + 0.5)) - 1)]
print("all:", " ".join(f"{x:.0f}" for x in lat)) if os.environ.get("ALL") else None
print(f"{kind} {mode} n={len(lat)}/{n}: p50 {pct(50):.0f} ms, p90 {pct(90):.0f} ms, p99 {pct(99):.0f} ms, max {lat[-1]:.0f} ms")
if not os.environ.get('KEEP'): req('DELETE', '/api/v1/namespaces/default/pods?labelSelector=podstart%3Dyes')
