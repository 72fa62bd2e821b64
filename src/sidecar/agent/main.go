// trellis-agent: the sidecar container's entry point. Obtains the pod's workload certificate
// from the mesh CA (the key is made here and never leaves the pod) and serves it to Envoy over
// SDS on a Unix socket, renewing it at half its lifetime and following the mesh root file; has
// Envoy's bootstrap written from the pod's identity (by trellis-bootstrap, the control plane's
// TypeScript, which runs once and exits); starts Envoy, forwards signals, and on SIGTERM drains
// Envoy's listeners before it lets Envoy go, so in-flight requests finish. Serves the status
// port (the app's rewritten probes, merged metrics).
//
// It is a small Go program rather than Node.js because it runs in every pod: Node.js alone is
// about 39 MiB resident before any of this (BENCHMARKS.md, agent-rss).
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"trellis.local/agent/internal/ca"
	"trellis.local/agent/internal/logx"
	"trellis.local/agent/internal/roots"
	"trellis.local/agent/internal/sds"
	"trellis.local/agent/internal/status"
)

const usage = `trellis-agent: the sidecar's agent: workload certificate over SDS, Envoy's bootstrap, Envoy

Usage: trellis-agent          (configured by the environment the injector sets)

  POD_NAME, POD_NAMESPACE, INSTANCE_IP  the pod (downward API; required)
  SERVICE_ACCOUNT               the pod's service account (default default)
  TRELLIS_PROXY_TYPE            sidecar (default) or router (a gateway)
  TRELLIS_DISCOVERY_ADDRESS     xDS server host:port (default trellis.trellis-system.svc:15012)
  TRELLIS_CA_ADDRESS            mesh CA host:port (default the discovery address)
  TRELLIS_XDS_TLS               false: plaintext xDS (debugging only; default true)
  TRELLIS_TOKEN_FILE            the pod's service account token (default /var/run/secrets/tokens/istio-token)
  TRELLIS_ROOT_CERT             the mesh root certificate (default /var/run/secrets/istio/root-cert.pem)
  TRELLIS_TRUST_DOMAIN          SPIFFE trust domain (default cluster.local)
  TRELLIS_CLUSTER_DOMAIN        the cluster's DNS domain (default cluster.local)
  TRELLIS_ADS_API               GRPC or DELTA_GRPC (default)
  TRELLIS_CERT_TTL_SECONDS      workload certificate lifetime (default 86400)
  TRELLIS_SDS_SOCKET            where the SDS server listens (default /var/run/secrets/workload-spiffe-uds/socket)
  TRELLIS_CONFIG_DIR            where Envoy's bootstrap is written (default /etc/trellis/proxy)
  TRELLIS_LABELS_FILE           the pod's labels (downward API; default /etc/trellis/pod/labels)
  TRELLIS_DRAIN_SECONDS         drain time on SIGTERM (default 5)
  TRELLIS_ENVOY                 the envoy binary (default envoy)
  TRELLIS_BOOTSTRAP             the command that writes Envoy's bootstrap, words separated by spaces (default trellis-bootstrap)
  TRELLIS_PROXY_LOG_LEVEL       Envoy's log level (default warning)
  TRELLIS_LOG_LEVEL             the agent's log level: debug, info (default), warn, error
  ISTIO_KUBE_APP_PROBERS        the app's probes, served on 15020 (set by the injector)
  ISTIO_PROMETHEUS_ANNOTATIONS  the app's metrics endpoint, merged into 15020/stats/prometheus (set by the injector)
  -h, --help                    this help
`

// Envoy's ports in the bootstrap (src/sidecar/bootstrap.ts, DEFAULT_PORTS).
const (
	envoyAdminPort = 15000
	envoyStatsPort = 15090
)

func main() {
	for _, a := range os.Args[1:] {
		if a == "-h" || a == "--help" {
			fmt.Print(usage)
			return
		}
	}
	root := logx.New(os.Stderr)
	os.Exit(run(root))
}

type config struct {
	kind, namespace, serviceAccount string
	caAddress, caHost               string
	tokenFile, rootFile, sdsSocket  string
	envoy, bootstrap, proxyLogLevel string
	identity                        string
	ttl, drain                      time.Duration
}

func readConfig() (config, error) {
	var missing []string
	env := func(name, fallback string) string {
		if v := os.Getenv(name); v != "" {
			return v
		}
		if fallback == "" {
			missing = append(missing, name)
		}
		return fallback
	}
	c := config{
		kind:           env("TRELLIS_PROXY_TYPE", "sidecar"),
		namespace:      env("POD_NAMESPACE", ""),
		serviceAccount: env("SERVICE_ACCOUNT", "default"),
		tokenFile:      env("TRELLIS_TOKEN_FILE", "/var/run/secrets/tokens/istio-token"),
		rootFile:       env("TRELLIS_ROOT_CERT", "/var/run/secrets/istio/root-cert.pem"),
		sdsSocket:      env("TRELLIS_SDS_SOCKET", "/var/run/secrets/workload-spiffe-uds/socket"),
		envoy:          env("TRELLIS_ENVOY", "envoy"),
		bootstrap:      env("TRELLIS_BOOTSTRAP", "trellis-bootstrap"),
		proxyLogLevel:  env("TRELLIS_PROXY_LOG_LEVEL", "warning"),
	}
	// Read here so that a missing one is said before anything starts; the bootstrap reads them too.
	env("POD_NAME", "")
	env("INSTANCE_IP", "")
	discovery := env("TRELLIS_DISCOVERY_ADDRESS", "trellis.trellis-system.svc:15012")
	// The CA shares the TLS xDS port; with a plaintext discovery address (debugging) it is named apart.
	c.caAddress = env("TRELLIS_CA_ADDRESS", discovery)
	if len(missing) > 0 {
		return c, fmt.Errorf("missing environment variables: %s", strings.Join(missing, ", "))
	}
	host, _, err := net.SplitHostPort(c.caAddress)
	if err != nil {
		return c, fmt.Errorf("TRELLIS_CA_ADDRESS %q is not host:port: %w", c.caAddress, err)
	}
	c.caHost = host
	ttl, err := strconv.Atoi(env("TRELLIS_CERT_TTL_SECONDS", "86400"))
	if err != nil || ttl <= 0 {
		return c, fmt.Errorf("TRELLIS_CERT_TTL_SECONDS must be a positive number of seconds, not %q", os.Getenv("TRELLIS_CERT_TTL_SECONDS"))
	}
	c.ttl = time.Duration(ttl) * time.Second
	drain, err := strconv.ParseFloat(env("TRELLIS_DRAIN_SECONDS", "5"), 64)
	if err != nil || drain < 0 {
		return c, fmt.Errorf("TRELLIS_DRAIN_SECONDS must be a number of seconds, not %q", os.Getenv("TRELLIS_DRAIN_SECONDS"))
	}
	c.drain = time.Duration(drain * float64(time.Second))
	c.identity = ca.SpiffeID(env("TRELLIS_TRUST_DOMAIN", "cluster.local"), c.namespace, c.serviceAccount)
	return c, nil
}

func run(root *slog.Logger) int {
	log := root.With("stage", "agent")
	c, err := readConfig()
	if err != nil {
		log.Error(err.Error())
		return 2
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Caught from the start: a SIGTERM while the bootstrap is written is handled (a drain) once
	// Envoy runs, rather than killing the agent and leaving its child behind.
	signals := make(chan os.Signal, 4)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)

	// Envoy starts at once and waits on SDS for the certificate, obtained meanwhile (and retried
	// for as long as the CA cannot sign): without it Envoy has no mesh TLS and no xDS connection.
	server := sds.NewServer(root.With("stage", "agent/sds"))
	listener, err := server.Listen(c.sdsSocket)
	if err != nil {
		log.Error(err.Error())
		return 1
	}
	go func() { _ = server.Serve(listener) }()
	log.Info("SDS server listening", "address", "unix:"+c.sdsSocket)

	// The certificate and the roots change apart (a renewal, a root change): the SDS server
	// keeps both and serves each change with the other's latest.
	initialRoot, _ := os.ReadFile(c.rootFile)
	server.SetRoots(initialRoot)
	watcher := roots.NewWatcher(c.rootFile, initialRoot, log, server.SetRoots)
	// The roots the watcher accepted (a root file it refused is not used to verify the CA either).
	trusted := func() ([]byte, error) {
		if a := watcher.Accepted(); len(a) > 0 {
			return a, nil
		}
		return os.ReadFile(c.rootFile)
	}
	workload := &ca.Workload{
		SpiffeID: c.identity,
		TTL:      c.ttl,
		Log:      log,
		ReadRoot: trusted,
		Sign: func(ctx context.Context, csrPEM []byte, ttl time.Duration, rootPEM []byte) ([][]byte, error) {
			// The token is read at each use: the kubelet rotates it in place.
			token, err := os.ReadFile(c.tokenFile)
			if err != nil {
				return nil, err
			}
			return ca.Sign(ctx, ca.Request{Address: c.caAddress, RootPEM: rootPEM, ServerName: c.caHost, Token: strings.TrimSpace(string(token)), CSRPEM: csrPEM, TTL: ttl})
		},
	}
	go watcher.Run(ctx)
	go func() {
		issued, err := workload.Obtain(ctx)
		if err != nil {
			return // stopping
		}
		server.SetCertificate(issued.ChainPEM, issued.KeyPEM, issued.RootPEM)
		workload.RenewEvery(ctx, issued, func(next ca.Issued) {
			server.SetCertificate(next.ChainPEM, next.KeyPEM, next.RootPEM)
			log.Info("workload certificate renewed", "identity", c.identity)
		})
	}()

	// The status port: the kubelet's probes of the app, rewritten by the injector to come here
	// (webhooks/probes.ts), and Prometheus's scrape of the pod (Envoy's stats and the app's merged).
	probers := status.ParseProbers(os.Getenv(status.ProbersEnv), log)
	var appMetrics *status.AppMetrics
	// The app's metrics are a sidecar's only (as in Istio): a gateway's scrape is its Envoy's stats.
	if c.kind != "router" {
		appMetrics = status.ParsePrometheusAnnotations(os.Getenv(status.PrometheusAnnotationsEnv), status.Port, log)
	}
	statusLn, err := net.Listen("tcp", fmt.Sprintf("0.0.0.0:%d", status.Port))
	if err != nil {
		log.Error("cannot serve the status port", "port", status.Port, "error", err.Error())
	} else {
		paths := make([]string, 0, len(probers))
		for p := range probers {
			paths = append(paths, p)
		}
		log.Info("serving the status port", "port", status.Port, "probes", paths, "appMetrics", appMetrics)
		handler := status.Handler(probers, status.MergeSources{EnvoyURL: fmt.Sprintf("http://127.0.0.1:%d/stats/prometheus", envoyStatsPort), App: appMetrics}, log)
		go func() { _ = (&http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}).Serve(statusLn) }()
	}

	file, node, err := writeBootstrap(c.bootstrap)
	if err != nil {
		log.Error("cannot write Envoy's bootstrap", "error", err.Error())
		return 1
	}
	return runEnvoy(ctx, c, file, node, signals, log)
}

// writeBootstrap runs the bootstrap command (with this process's environment), which prints
// one JSON line {"file": ..., "node": ...} on stdout.
func writeBootstrap(command string) (file, node string, err error) {
	words := strings.Fields(command)
	if len(words) == 0 {
		return "", "", errors.New("TRELLIS_BOOTSTRAP is empty")
	}
	cmd := exec.Command(words[0], words[1:]...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", "", fmt.Errorf("%s: %w", command, err)
	}
	var written struct{ File, Node string }
	lines := bufio.NewScanner(bytes.NewReader(out))
	for lines.Scan() {
		if json.Unmarshal(lines.Bytes(), &written) == nil && written.File != "" {
			return written.File, written.Node, nil
		}
	}
	return "", "", fmt.Errorf("%s printed no {\"file\": ...} line", command)
}

func runEnvoy(ctx context.Context, c config, file, node string, signals <-chan os.Signal, log *slog.Logger) int {
	args := []string{"-c", file, "--disable-hot-restart", "--drain-time-s", strconv.Itoa(int(math.Ceil(c.drain.Seconds()))), "--drain-strategy", "immediate",
		"--log-level", c.proxyLogLevel, "--log-format", "%Y-%m-%dT%T.%fZ\t%l\tenvoy %n\t%v"}
	log.Info("starting envoy", "node", node, "bootstrap", file)
	envoy := exec.Command(c.envoy, args...)
	envoy.Stdout, envoy.Stderr = os.Stdout, os.Stderr
	if err := envoy.Start(); err != nil {
		log.Error("cannot start envoy", "error", err.Error())
		return 1
	}
	exited := make(chan *os.ProcessState, 1)
	go func() {
		_ = envoy.Wait()
		exited <- envoy.ProcessState
	}()
	draining := false
	for {
		select {
		case st := <-exited:
			// Both keys always, one of them null: the shape the control plane's logs have.
			if ws, _ := st.Sys().(syscall.WaitStatus); ws.Signaled() {
				log.Info("envoy exited", "code", nil, "signal", unix.SignalName(ws.Signal()))
				return 0
			}
			log.Info("envoy exited", "code", st.ExitCode(), "signal", nil)
			return st.ExitCode()
		case sig := <-signals:
			if sig != syscall.SIGTERM {
				_ = envoy.Process.Signal(sig)
				continue
			}
			if draining {
				continue
			}
			draining = true
			// Listeners stop accepting and Envoy sends GOAWAY / Connection: close on open
			// connections; after the drain period Envoy is told to stop.
			log.Info("draining", "seconds", c.drain.Seconds())
			go func() {
				drainListeners()
				select {
				case <-time.After(c.drain):
				case <-ctx.Done():
				}
				_ = envoy.Process.Signal(syscall.SIGTERM)
			}()
		}
	}
}

func drainListeners() {
	client := &http.Client{Timeout: 2 * time.Second}
	res, err := client.Post(fmt.Sprintf("http://127.0.0.1:%d/drain_listeners?graceful&inboundonly", envoyAdminPort), "text/plain", nil)
	if err == nil {
		res.Body.Close()
	}
}
