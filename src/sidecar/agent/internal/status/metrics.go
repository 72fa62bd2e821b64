package status

// Istio's metrics merging, the agent's side: Prometheus scrapes one endpoint per pod, the
// agent's /stats/prometheus (and /metrics) on 15020, named by the prometheus.io/* annotations
// the injector puts on the pod (webhooks/prometheus-merge.ts). The answer is Envoy's stats (from
// its Prometheus listener, 15090) followed by the app's own metrics, where the pod had annotated
// them (handed over in ISTIO_PROMETHEUS_ANNOTATIONS, Istio's name and format). A failing source
// is logged and left out, never the whole answer: an app that is down still leaves the proxy's
// metrics scrapeable. The app is reached on loopback, as the proxy's user, whom iptables never
// captures (so STRICT mTLS never refuses it).

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// PrometheusAnnotationsEnv is where the injector hands over the app's prometheus.io/* annotations.
const PrometheusAnnotationsEnv = "ISTIO_PROMETHEUS_ANNOTATIONS"

// MergedMetricsPaths are the paths Prometheus is pointed at (Istio serves both).
var MergedMetricsPaths = []string{"/stats/prometheus", "/metrics"}

const (
	defaultScrapeTimeout = 10 * time.Second
	openMetrics          = "application/openmetrics-text"
	textFormat           = "text/plain; version=0.0.4; charset=utf-8"
)

// AppMetrics is where the app's metrics are, with Istio's defaults (path /metrics, port 80).
type AppMetrics struct {
	Port int    `json:"port"`
	Path string `json:"path"`
}

// ParsePrometheusAnnotations reads ISTIO_PROMETHEUS_ANNOTATIONS: nil when nothing is to be merged
// (no variable, scrape "false"), or when the value cannot be used (logged): a port that is not a
// port, or the agent's own (which would scrape itself forever).
func ParsePrometheusAnnotations(text string, agentPort int, log *slog.Logger) *AppMetrics {
	if text == "" {
		return nil
	}
	var cfg struct{ Scrape, Path, Port string }
	if err := json.Unmarshal([]byte(text), &cfg); err != nil {
		log.Error(PrometheusAnnotationsEnv+" is not JSON; the app's metrics are not merged", "error", err.Error())
		return nil
	}
	if cfg.Scrape == "false" {
		return nil
	}
	portText := cfg.Port
	if portText == "" {
		portText = "80"
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port < 1 || port > 65535 || port == agentPort {
		log.Error(fmt.Sprintf("%s: port %q cannot be the app's metrics port; the app's metrics are not merged", PrometheusAnnotationsEnv, cfg.Port))
		return nil
	}
	path := cfg.Path
	if path == "" {
		path = "/metrics"
	}
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	return &AppMetrics{Port: port, Path: path}
}

// MergeSources are what a scrape merges.
type MergeSources struct {
	// EnvoyURL is Envoy's Prometheus stats, e.g. http://127.0.0.1:15090/stats/prometheus.
	EnvoyURL string
	App      *AppMetrics
}

// Prometheus's own headers pass through, so a source answers as it would have answered Prometheus.
var forwarded = []string{"Accept", "User-Agent", "X-Prometheus-Scrape-Timeout-Seconds"}

var scrapeClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil}}

type scraped struct {
	body        []byte
	contentType string
	err         error
}

func scrape(ctx context.Context, url string, in http.Header) scraped {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return scraped{err: err}
	}
	for _, h := range forwarded {
		if v := in.Get(h); v != "" {
			req.Header.Set(h, v)
		}
	}
	res, err := scrapeClient.Do(req)
	if err != nil {
		return scraped{err: fmt.Errorf("%s: %w", url, err)}
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return scraped{err: fmt.Errorf("%s: %w", url, err)}
	}
	if res.StatusCode != http.StatusOK {
		return scraped{err: fmt.Errorf("%s: HTTP %d", url, res.StatusCode)}
	}
	return scraped{body: body, contentType: res.Header.Get("Content-Type")}
}

// serveMerged answers a scrape: Envoy's stats, then the app's (last, since OpenMetrics ends
// with "# EOF"), in the app's format when it speaks OpenMetrics, else Prometheus text. Always
// 200, as Istio's agent: a missing source is absent from the answer, and logged.
func serveMerged(w http.ResponseWriter, r *http.Request, src MergeSources, log *slog.Logger) {
	timeout := defaultScrapeTimeout
	if s, err := strconv.ParseFloat(r.Header.Get("X-Prometheus-Scrape-Timeout-Seconds"), 64); err == nil && s > 0 {
		timeout = time.Duration(s * float64(time.Second))
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	var envoy, app scraped
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); envoy = scrape(ctx, src.EnvoyURL, r.Header) }()
	if src.App != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			app = scrape(ctx, fmt.Sprintf("http://127.0.0.1:%d%s", src.App.Port, src.App.Path), r.Header)
		}()
	}
	wg.Wait()
	if envoy.err != nil {
		log.Warn("cannot scrape Envoy's metrics", "error", envoy.err.Error())
	}
	if app.err != nil {
		log.Warn("cannot scrape the app's metrics", "error", app.err.Error())
	}
	contentType := textFormat
	if mt, _, err := mime.ParseMediaType(app.contentType); err == nil && mt == openMetrics {
		contentType = app.contentType
	}
	var body bytes.Buffer
	for _, part := range [][]byte{envoy.body, app.body} {
		if len(part) == 0 {
			continue
		}
		body.Write(part)
		// Each part ends its last line, so the next starts on a line of its own.
		if part[len(part)-1] != '\n' {
			body.WriteByte('\n')
		}
	}
	w.Header().Set("Content-Type", contentType)
	_, _ = w.Write(body.Bytes())
}

// Handler serves the status port: merged metrics and the app probes.
func Handler(probers map[string]Prober, metrics MergeSources, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			for _, p := range MergedMetricsPaths {
				if r.URL.Path == p {
					serveMerged(w, r, metrics, log)
					return
				}
			}
		}
		answerProbe(probers, w, r, log)
	})
}
