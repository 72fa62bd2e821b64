package status

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func port(t *testing.T, url string) int {
	t.Helper()
	p, err := strconv.Atoi(url[strings.LastIndex(url, ":")+1:])
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// closedPort is a loopback port nothing listens on.
func closedPort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return p
}

func get(t *testing.T, h http.Handler, path string, header map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestProbesAsTheKubeletJudgesThem(t *testing.T) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/ready" && r.Header.Get("X-Probe") == "1":
			w.WriteHeader(http.StatusNoContent)
		case r.URL.Path == "/moved":
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
		default:
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	defer app.Close()
	appPort, closed := port(t, app.URL), closedPort(t)
	probers := ParseProbers(fmt.Sprintf(`{
	  "/app-health/echo/readyz": {"httpGet": {"port": %d, "path": "/ready", "httpHeaders": [{"name": "x-probe", "value": "1"}]}},
	  "/app-health/echo/startupz": {"httpGet": {"port": %d, "path": "/moved"}},
	  "/app-health/echo/livez": {"httpGet": {"port": %d, "path": "/ready"}},
	  "/app-health/tcp/readyz": {"tcpSocket": {"port": %d}},
	  "/app-health/tcp/livez": {"tcpSocket": {"port": %d}},
	  "/not-a-probe": {"tcpSocket": {"port": %d}}
	}`, appPort, appPort, appPort, appPort, closed, appPort), quiet)
	if len(probers) != 5 {
		t.Fatalf("%d probers, want 5 (a path outside /app-health/ is not one)", len(probers))
	}
	h := Handler(probers, MergeSources{EnvoyURL: "http://127.0.0.1:1/"}, quiet)
	for path, want := range map[string]int{
		"/app-health/echo/readyz":   200, // 204 is healthy
		"/app-health/echo/startupz": 200, // a redirect is an answer, as the kubelet takes it
		"/app-health/echo/livez":    503, // HTTP 500
		"/app-health/tcp/readyz":    200,
		"/app-health/tcp/livez":     503, // refused
		"/app-health/other/readyz":  404,
		"/not-a-probe":              404,
	} {
		if got := get(t, h, path, nil).Code; got != want {
			t.Errorf("%s: %d, want %d", path, got, want)
		}
	}
	if p := probers["/app-health/echo/livez"].Run(context.Background()); p != "HTTP 500" {
		t.Errorf("the reason: %q", p)
	}
}

func TestMalformedProbersProbeNothing(t *testing.T) {
	if len(ParseProbers("{not json", quiet)) != 0 {
		t.Fatal("malformed probers were used")
	}
	// One entry that cannot be read leaves the others working.
	p := ParseProbers(`{"/app-health/a/readyz": {"tcpSocket": {"port": "http"}}, "/app-health/b/readyz": {"tcpSocket": {"port": 8080}}}`, quiet)
	if _, ok := p["/app-health/b/readyz"]; !ok || len(p) != 1 {
		t.Fatalf("probers %v: want b's only", p)
	}
}

const envoyText = "# TYPE envoy_up gauge\nenvoy_up 1\n"
const appText = "# TYPE app_requests counter\napp_requests_total 7"

func TestMergedMetrics(t *testing.T) {
	var seen []http.Header
	envoy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, r.Header.Clone())
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		_, _ = io.WriteString(w, envoyText)
	}))
	defer envoy.Close()
	appType, appStatus := "text/plain; version=0.0.4", 200
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, r.Header.Clone())
		if r.URL.Path != "/custom/metrics" {
			w.WriteHeader(404)
			return
		}
		w.Header().Set("Content-Type", appType)
		w.WriteHeader(appStatus)
		body := appText
		if strings.HasPrefix(appType, openMetrics) {
			body += "\n# EOF\n"
		}
		_, _ = io.WriteString(w, body)
	}))
	defer app.Close()
	src := MergeSources{EnvoyURL: envoy.URL + "/stats/prometheus", App: &AppMetrics{Port: port(t, app.URL), Path: "/custom/metrics"}}
	h := Handler(nil, src, quiet)

	for _, path := range MergedMetricsPaths {
		rec := get(t, h, path, map[string]string{"Accept": "text/plain", "X-Prometheus-Scrape-Timeout-Seconds": "3"})
		if rec.Code != 200 || rec.Body.String() != envoyText+appText+"\n" || rec.Header().Get("Content-Type") != textFormat {
			t.Fatalf("%s: %d %q %q", path, rec.Code, rec.Header().Get("Content-Type"), rec.Body.String())
		}
	}
	// Prometheus's headers reach both sources.
	for _, h := range seen {
		if h.Get("Accept") != "text/plain" || h.Get("X-Prometheus-Scrape-Timeout-Seconds") != "3" {
			t.Fatalf("forwarded headers: %v", h)
		}
	}

	// The app's OpenMetrics answer keeps its format, last (its # EOF ends the whole).
	appType = "application/openmetrics-text; version=1.0.0; charset=utf-8"
	rec := get(t, h, "/stats/prometheus", nil)
	if rec.Header().Get("Content-Type") != appType || !strings.HasSuffix(rec.Body.String(), "# EOF\n") || !strings.HasPrefix(rec.Body.String(), envoyText) {
		t.Fatalf("OpenMetrics: %q %q", rec.Header().Get("Content-Type"), rec.Body.String())
	}

	// The app failing: Envoy's stats are still served.
	appType, appStatus = "text/plain", 500
	if rec := get(t, h, "/stats/prometheus", nil); rec.Code != 200 || rec.Body.String() != envoyText {
		t.Fatalf("app failing: %d %q", rec.Code, rec.Body.String())
	}
	// Envoy down: the app's metrics are still served.
	appStatus = 200
	down := Handler(nil, MergeSources{EnvoyURL: fmt.Sprintf("http://127.0.0.1:%d/stats/prometheus", closedPort(t)), App: src.App}, quiet)
	if rec := get(t, down, "/stats/prometheus", nil); rec.Code != 200 || rec.Body.String() != appText+"\n" {
		t.Fatalf("Envoy down: %d %q", rec.Code, rec.Body.String())
	}
	// No app annotated: Envoy's alone.
	if rec := get(t, Handler(nil, MergeSources{EnvoyURL: src.EnvoyURL}, quiet), "/metrics", nil); rec.Body.String() != envoyText {
		t.Fatalf("Envoy alone: %q", rec.Body.String())
	}
}

func TestPrometheusAnnotationsAsIstiosAgentReadsThem(t *testing.T) {
	for text, want := range map[string]*AppMetrics{
		"": nil,
		`{"scrape":"true","path":"/custom","port":"9102"}`: {Port: 9102, Path: "/custom"},
		// Istio's defaults: port 80, path /metrics.
		`{"scrape":"","path":"","port":""}`:            {Port: 80, Path: "/metrics"},
		`{"scrape":"true","path":"stats","port":"81"}`: {Port: 81, Path: "/stats"},
		`{"scrape":"false","path":"/m","port":"9102"}`: nil,
		// The agent's own port would make it scrape itself forever; garbage is refused.
		`{"port":"15020"}`: nil,
		`{"port":"http"}`:  nil,
		`{not json`:        nil,
	} {
		got := ParsePrometheusAnnotations(text, Port, quiet)
		if (got == nil) != (want == nil) || (got != nil && *got != *want) {
			t.Errorf("%s: %+v, want %+v", text, got, want)
		}
	}
}
