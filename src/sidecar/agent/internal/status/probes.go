// Package status is the agent's status port, 15020 (Istio's): the kubelet's rewritten app
// probes (/app-health/...) and Prometheus's scrape of the pod (/stats/prometheus, /metrics:
// Envoy's stats merged with the app's). iptables never captures this port, so neither STRICT
// mTLS nor an AuthorizationPolicy stands between them and the agent.
package status

// The agent's side of the rewritten app probes (the injector's webhooks/probes.ts): it answers
// the kubelet's GET /app-health/<container>/<kind>z by probing the app itself, from inside the
// pod on loopback, with the kubelet's rules: an HTTP status from 200 to 399, or a TCP
// connection accepted, within the probe's timeout (default 1 s). Anything else answers 503, and
// a path it was not given 404. The agent runs as the proxy's user, whose connections iptables
// never captures, so the probe reaches the app directly.

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Port is the agent's status port.
const Port = 15020

// ProbersEnv is where the injector hands over the original probes, JSON keyed by path.
const ProbersEnv = "ISTIO_KUBE_APP_PROBERS"

const defaultProbeTimeout = time.Second

// Prober is what the agent performs for one rewritten probe (the original's action, port resolved).
type Prober struct {
	HTTPGet *struct {
		Path        string `json:"path"`
		Port        int    `json:"port"`
		Scheme      string `json:"scheme"`
		HTTPHeaders []struct {
			Name  string `json:"name"`
			Value string `json:"value"`
		} `json:"httpHeaders"`
	} `json:"httpGet"`
	TCPSocket *struct {
		Port int `json:"port"`
	} `json:"tcpSocket"`
	TimeoutSeconds float64 `json:"timeoutSeconds"`
}

// ParseProbers reads ISTIO_KUBE_APP_PROBERS; a malformed value is logged and probes nothing.
func ParseProbers(text string, log *slog.Logger) map[string]Prober {
	out := map[string]Prober{}
	if text == "" {
		return out
	}
	var parsed map[string]json.RawMessage
	if err := json.Unmarshal([]byte(text), &parsed); err != nil {
		log.Error(ProbersEnv+" is not JSON; app probes answer 404", "error", err.Error())
		return out
	}
	// Each probe on its own: one malformed entry must not fail the others (and the pod with them).
	for path, raw := range parsed {
		var p Prober
		if err := json.Unmarshal(raw, &p); err != nil {
			log.Error(ProbersEnv+": a probe that cannot be read answers 404", "path", path, "error", err.Error())
			continue
		}
		if !strings.HasPrefix(path, "/app-health/") {
			continue
		}
		if (p.HTTPGet != nil && p.HTTPGet.Port > 0) || (p.TCPSocket != nil && p.TCPSocket.Port > 0) {
			out[path] = p
		}
	}
	return out
}

// Run performs one probe: "" when healthy, else why not.
func (p Prober) Run(ctx context.Context) string {
	timeout := defaultProbeTimeout
	if p.TimeoutSeconds > 0 {
		timeout = time.Duration(p.TimeoutSeconds * float64(time.Second))
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	switch {
	case p.HTTPGet != nil:
		return p.probeHTTP(ctx, timeout)
	case p.TCPSocket != nil:
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p.TCPSocket.Port)))
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Sprintf("not accepted within %d ms", timeout.Milliseconds())
			}
			return err.Error()
		}
		c.Close()
		return ""
	}
	return "nothing to probe"
}

// The kubelet does not verify an HTTPS probe's certificate; neither does this.
var probeClient = &http.Client{
	Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, DisableKeepAlives: true, Proxy: nil},
	// A redirect is an answer (3xx counts as healthy), not something to follow.
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

func (p Prober) probeHTTP(ctx context.Context, timeout time.Duration) string {
	g := p.HTTPGet
	scheme := "http"
	if strings.EqualFold(g.Scheme, "HTTPS") {
		scheme = "https"
	}
	path := g.Path
	if path == "" {
		path = "/"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s://127.0.0.1:%d%s", scheme, g.Port, path), nil)
	if err != nil {
		return err.Error()
	}
	req.Header.Set("User-Agent", "kube-probe/trellis")
	for _, h := range g.HTTPHeaders {
		if strings.EqualFold(h.Name, "host") {
			req.Host = h.Value
		} else {
			req.Header.Set(h.Name, h.Value)
		}
	}
	res, err := probeClient.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Sprintf("no answer within %d ms", timeout.Milliseconds())
		}
		return err.Error()
	}
	res.Body.Close()
	if res.StatusCode < 200 || res.StatusCode >= 400 {
		return fmt.Sprintf("HTTP %d", res.StatusCode)
	}
	return ""
}

func answerProbe(probers map[string]Prober, w http.ResponseWriter, r *http.Request, log *slog.Logger) {
	p, ok := probers[r.URL.Path]
	if !ok || r.Method != http.MethodGet {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte("no such app probe\n"))
		return
	}
	problem := p.Run(r.Context())
	w.Header().Set("Content-Type", "text/plain")
	if problem != "" {
		log.Debug("app probe failed", "path", r.URL.Path, "problem", problem)
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(problem + "\n"))
		return
	}
	_, _ = w.Write([]byte("ok\n"))
}
