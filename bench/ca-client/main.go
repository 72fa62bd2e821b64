// ca-client: a load generator for the mesh CA (Istio's IstioCertificateService/CreateCertificate
// over gRPC on TLS), written with Go's standard library only so that it costs the machine little
// beside the control plane it measures: on this 2-vCPU machine the clients share the CPUs with
// the CA and the API server, where real agents run on their own pods' CPUs.
//
// Every request is what a new pod's agent sends: a new TLS connection verified against the mesh
// root (server name given), HTTP/2, one unary call with `authorization: Bearer <token>` and a
// fresh EC P-256 CSR for the SPIFFE ID, then the connection is closed. CSRs are made before the
// clock starts. Closed loop (-concurrency in flight) or open loop (-rate per second, a request's
// latency counted from when it was due, so a slow CA cannot hide its queue).
//
//	ca-client -job job.json [-concurrency 8 | -rate 200]
//
// job.json: {"address": "10.96.0.10:15012", "serverName": "trellis.trellis-system.svc",
// "rootPem": "...", "spiffeId": "spiffe://cluster.local/ns/x/sa/default", "tokens": ["..."],
// "requests": 1000}. Prints one JSON line: latencies (ms), each request's phases, errors, wall
// ms, own CPU ms.
package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"os"
	"sync"
	"syscall"
	"time"
)

type job struct {
	Address    string   `json:"address"`
	ServerName string   `json:"serverName"`
	RootPem    string   `json:"rootPem"`
	SpiffeID   string   `json:"spiffeId"`
	Tokens     []string `json:"tokens"`
	Requests   int      `json:"requests"`
}

// phases of one request (ms): late (its due time to its start: the client's own queue), connect
// (TCP), tls (the handshake), answer (the request written to the first byte of the answer: the
// server's handler, TokenReview included, and the wire) and rest (the answer's first byte to
// its trailers read: the message and the status).
type phases struct {
	Late    float64 `json:"late"`
	Connect float64 `json:"connect"`
	TLS     float64 `json:"tls"`
	Answer  float64 `json:"answer"`
	Rest    float64 `json:"rest"`
}

type result struct {
	Lat    []float64 `json:"lat"`
	Phases []phases  `json:"phases"`
	Errors []string  `json:"errors"`
	Ms     float64   `json:"ms"`
	CPUMs  float64   `json:"cpuMs"`
}

const path = "/istio.v1.auth.IstioCertificateService/CreateCertificate"

// newCsr is a PEM CSR for a fresh P-256 key whose one URI SAN is id, as the agent makes.
func newCsr(id *url.URL) (string, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", err
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{URIs: []*url.URL{id}}, key)
	if err != nil {
		return "", err
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})), nil
}

// request is the gRPC message: IstioCertificateRequest{csr = 1} behind the 5-byte frame header.
func request(csr string) []byte {
	var msg []byte
	msg = append(msg, 0x0a)
	msg = binary.AppendUvarint(msg, uint64(len(csr)))
	msg = append(msg, csr...)
	frame := make([]byte, 5, 5+len(msg))
	binary.BigEndian.PutUint32(frame[1:], uint32(len(msg)))
	return append(frame, msg...)
}

// chainLength counts cert_chain (field 1, strings) in the response frame; the call must carry at least one.
func chainLength(body []byte) (int, error) {
	if len(body) < 5 || body[0] != 0 {
		return 0, fmt.Errorf("a response of %d bytes is not one uncompressed gRPC message", len(body))
	}
	msg, n := body[5:], 0
	for len(msg) > 0 {
		tag, k := binary.Uvarint(msg)
		if k <= 0 || tag != 0x0a {
			return 0, fmt.Errorf("unexpected field tag %d in the response", tag)
		}
		size, m := binary.Uvarint(msg[k:])
		if m <= 0 || uint64(len(msg)-k-m) < size {
			return 0, errors.New("a truncated response")
		}
		msg = msg[k+m+int(size):]
		n++
	}
	return n, nil
}

// createCertificate sends one call on a connection of its own, as a new agent does; ph gets the
// times of its phases.
func createCertificate(j *job, roots *x509.CertPool, token, csr string, ph *phases) error {
	transport := &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: roots, ServerName: j.ServerName, NextProtos: []string{"h2"}},
		ForceAttemptHTTP2: true,
		DialContext:       (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
	}
	defer transport.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var connectStart, tlsStart, wrote, firstByte time.Time
	since := func(t time.Time) float64 { return float64(time.Since(t).Microseconds()) / 1000 }
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		ConnectStart:         func(string, string) { connectStart = time.Now() },
		ConnectDone:          func(string, string, error) { ph.Connect = since(connectStart) },
		TLSHandshakeStart:    func() { tlsStart = time.Now() },
		TLSHandshakeDone:     func(tls.ConnectionState, error) { ph.TLS = since(tlsStart) },
		WroteRequest:         func(httptrace.WroteRequestInfo) { wrote = time.Now() },
		GotFirstResponseByte: func() { firstByte = time.Now(); ph.Answer = since(wrote) },
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+j.Address+path, bytes.NewReader(request(csr)))
	if err != nil {
		return err
	}
	req.Header.Set("content-type", "application/grpc")
	req.Header.Set("te", "trailers")
	req.Header.Set("authorization", "Bearer "+token)
	resp, err := (&http.Client{Transport: transport}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	ph.Rest = since(firstByte)
	status := resp.Trailer.Get("grpc-status")
	if status == "" {
		status = resp.Header.Get("grpc-status") // a trailers-only answer (an error)
	}
	if resp.StatusCode != 200 || status != "0" {
		msg := resp.Trailer.Get("grpc-message")
		if msg == "" {
			msg = resp.Header.Get("grpc-message")
		}
		return fmt.Errorf("HTTP %d, grpc-status %q: %s", resp.StatusCode, status, msg)
	}
	n, err := chainLength(body)
	if err == nil && n == 0 {
		err = errors.New("an empty certificate chain")
	}
	return err
}

func cpuMs() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e6
}

func main() {
	jobFile := flag.String("job", "", "the job's JSON file (required)")
	concurrency := flag.Int("concurrency", 8, "requests in flight (closed loop)")
	rate := flag.Float64("rate", 0, "requests started per second whatever the answers (open loop); 0: closed loop")
	flag.Parse()
	if *jobFile == "" {
		fmt.Fprintln(os.Stderr, "ca-client: -job is required")
		os.Exit(2)
	}
	raw, err := os.ReadFile(*jobFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ca-client:", err)
		os.Exit(1)
	}
	var j job
	if err := json.Unmarshal(raw, &j); err != nil || len(j.Tokens) == 0 || j.Requests <= 0 {
		fmt.Fprintf(os.Stderr, "ca-client: %s needs address, serverName, rootPem, spiffeId, tokens and requests (%v)\n", *jobFile, err)
		os.Exit(2)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM([]byte(j.RootPem)) {
		fmt.Fprintln(os.Stderr, "ca-client: rootPem holds no certificate")
		os.Exit(2)
	}
	id, err := url.Parse(j.SpiffeID)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ca-client: spiffeId:", err)
		os.Exit(2)
	}
	csrs := make([]string, j.Requests)
	for i := range csrs {
		if csrs[i], err = newCsr(id); err != nil {
			fmt.Fprintln(os.Stderr, "ca-client: CSR:", err)
			os.Exit(1)
		}
	}

	var mu sync.Mutex
	res := result{Lat: []float64{}, Phases: []phases{}, Errors: []string{}}
	one := func(i int, due time.Time) {
		ph := phases{Late: float64(time.Since(due).Microseconds()) / 1000}
		err := createCertificate(&j, roots, j.Tokens[i%len(j.Tokens)], csrs[i], &ph)
		ms := float64(time.Since(due).Microseconds()) / 1000
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			res.Errors = append(res.Errors, err.Error())
		} else {
			res.Lat = append(res.Lat, ms)
			res.Phases = append(res.Phases, ph)
		}
	}
	cpu0, start := cpuMs(), time.Now()
	var wg sync.WaitGroup
	if *rate > 0 {
		for i := 0; i < j.Requests; i++ {
			due := start.Add(time.Duration(float64(i) * float64(time.Second) / *rate))
			time.Sleep(time.Until(due))
			wg.Add(1)
			go func(i int) { defer wg.Done(); one(i, due) }(i)
		}
	} else {
		next := make(chan int)
		for w := 0; w < *concurrency; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range next {
					one(i, time.Now())
				}
			}()
		}
		for i := 0; i < j.Requests; i++ {
			next <- i
		}
		close(next)
	}
	wg.Wait()
	res.Ms = float64(time.Since(start).Microseconds()) / 1000
	res.CPUMs = cpuMs() - cpu0
	_ = json.NewEncoder(os.Stdout).Encode(res)
}
