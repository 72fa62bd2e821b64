package sds

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func start(t *testing.T) (*Server, *grpc.ClientConn, string) {
	t.Helper()
	s := NewServer(quiet)
	path := filepath.Join(t.TempDir(), "sds", "socket")
	l, err := s.Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.Serve(l) }()
	t.Cleanup(s.Stop)
	conn, err := grpc.NewClient("unix://"+path, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return s, conn, path
}

// update serves certificate `serial` (with the roots "root" if none were set).
func update(s *Server, serial string) {
	s.SetCertificate([]byte("chain "+serial), []byte("key "+serial), []byte("root"))
}

// Test-side encoders and decoders of the messages (Envoy's side of the wire).

func sotwRequest(nonce string, names []string, nack string) []byte {
	node := appendString(nil, 1, "sidecar~10.0.0.1~p.ns~ns.svc.cluster.local")
	b := appendBytes(nil, 2, node)
	for _, n := range names {
		b = appendBytes(b, 3, []byte(n))
	}
	b = appendString(b, 4, SecretTypeURL)
	b = appendString(b, 5, nonce)
	if nack != "" {
		st := protowire.AppendTag(nil, 1, protowire.VarintType)
		st = protowire.AppendVarint(st, 3)
		b = appendBytes(b, 6, appendString(st, 2, nack))
	}
	return b
}

func deltaRequest(nonce string, subscribe, unsubscribe []string, initial map[string]string) []byte {
	var b []byte
	b = appendString(b, 2, SecretTypeURL)
	for _, n := range subscribe {
		b = appendBytes(b, 3, []byte(n))
	}
	for _, n := range unsubscribe {
		b = appendBytes(b, 4, []byte(n))
	}
	for k, v := range initial {
		b = appendBytes(b, 5, appendString(appendString(nil, 1, k), 2, v))
	}
	return appendString(b, 6, nonce)
}

type response struct {
	version, nonce string
	// name -> the secret's bytes
	secrets map[string][]byte
	removed []string
}

func fields(t *testing.T, b []byte) map[protowire.Number][][]byte {
	t.Helper()
	out := map[protowire.Number][][]byte{}
	if err := each(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		if typ == protowire.BytesType {
			out[num] = append(out[num], v)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func first(f map[protowire.Number][][]byte, n protowire.Number) string {
	if len(f[n]) == 0 {
		return ""
	}
	return string(f[n][0])
}

func secretName(t *testing.T, secret []byte) string { return first(fields(t, secret), 1) }

func decodeSotw(t *testing.T, b []byte) response {
	f := fields(t, b)
	r := response{version: first(f, 1), nonce: first(f, 5), secrets: map[string][]byte{}}
	if first(f, 4) != SecretTypeURL {
		t.Fatalf("type_url %q", first(f, 4))
	}
	for _, a := range f[2] {
		any := fields(t, a)
		if first(any, 1) != SecretTypeURL {
			t.Fatalf("Any type_url %q", first(any, 1))
		}
		r.secrets[secretName(t, any[2][0])] = any[2][0]
	}
	return r
}

func decodeDelta(t *testing.T, b []byte) response {
	f := fields(t, b)
	r := response{version: first(f, 1), nonce: first(f, 5), secrets: map[string][]byte{}}
	for _, res := range f[2] {
		rf := fields(t, res)
		secret := fields(t, rf[2][0])[2][0]
		if first(rf, 3) != secretName(t, secret) {
			t.Fatalf("resource name %q, secret name %q", first(rf, 3), secretName(t, secret))
		}
		r.secrets[first(rf, 3)] = secret
	}
	for _, n := range f[6] {
		r.removed = append(r.removed, string(n))
	}
	return r
}

type client struct {
	t      *testing.T
	stream grpc.ClientStream
	got    chan []byte
}

func open(t *testing.T, conn *grpc.ClientConn, method string) *client {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	st, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true, ClientStreams: true}, "/"+serviceName+"/"+method, grpc.ForceCodec(rawCodec{}))
	if err != nil {
		t.Fatal(err)
	}
	c := &client{t: t, stream: st, got: make(chan []byte, 10)}
	go func() {
		for {
			var b []byte
			if err := st.RecvMsg(&b); err != nil {
				close(c.got)
				return
			}
			c.got <- b
		}
	}()
	return c
}

func (c *client) send(b []byte) {
	if err := c.stream.SendMsg(&b); err != nil {
		c.t.Fatal(err)
	}
}

func (c *client) next() []byte {
	c.t.Helper()
	select {
	case b, ok := <-c.got:
		if !ok {
			c.t.Fatal("the stream ended")
		}
		return b
	case <-time.After(5 * time.Second):
		c.t.Fatal("no response within 5 s")
	}
	return nil
}

// none asserts that nothing comes within a moment (what the protocol says must not be sent).
func (c *client) none() {
	c.t.Helper()
	select {
	case b, ok := <-c.got:
		if ok {
			c.t.Fatalf("unexpected response of %d bytes", len(b))
		}
	case <-time.After(300 * time.Millisecond):
	}
}

func TestSocketIsTheOwnersOnly(t *testing.T) {
	_, _, path := start(t)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode %v, want a socket with 0600", fi.Mode())
	}
}

// connectAsEnv: set in the child that TestAnotherUserCannotConnect starts as another user.
const connectAsEnv = "SDS_TEST_CONNECT_TO"

// The attack: another user in the pod (an app container given the volume, a process that is
// not the proxy) connects to the socket to read the workload key. The kernel refuses it.
func TestAnotherUserCannotConnect(t *testing.T) {
	if path := os.Getenv(connectAsEnv); path != "" {
		c, err := net.Dial("unix", path)
		if err == nil {
			c.Close()
			fmt.Print("CONNECTED")
			return
		}
		fmt.Print(err.Error())
		return
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to start a process as another user")
	}
	s := NewServer(quiet)
	dir := filepath.Join(t.TempDir(), "uds")
	path := filepath.Join(dir, "socket")
	l, err := s.Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.Serve(l) }()
	t.Cleanup(s.Stop)
	update(s, "1")
	// The folders on the way (below the temp folder, itself open to all) are opened: only the
	// socket's own mode stands in the way.
	for d := dir; d != filepath.Clean(os.TempDir()) && d != "/"; d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// The test binary again, from where the other user may run it (go test's folder is root's).
	self, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(filepath.Dir(dir), "sds.test")
	if err := os.WriteFile(exe, self, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^TestAnotherUserCannotConnect$")
	cmd.Env = append(os.Environ(), connectAsEnv+"="+path)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil && !strings.Contains(string(out), "permission denied") {
		t.Fatalf("the other user's process: %v: %s", err, out)
	}
	if strings.Contains(string(out), "CONNECTED") || !strings.Contains(string(out), "permission denied") {
		t.Fatalf("another user connected to the SDS socket, or failed for another reason: %s", out)
	}
}

func TestStateOfTheWorld(t *testing.T) {
	s, conn, _ := start(t)
	c := open(t, conn, "StreamSecrets")
	c.send(sotwRequest("", []string{WorkloadCert, RootCA}, ""))
	// Not signed yet: Envoy waits.
	c.none()
	update(s, "1")
	r1 := decodeSotw(t, c.next())
	if len(r1.secrets) != 2 || r1.secrets[WorkloadCert] == nil || r1.secrets[RootCA] == nil {
		t.Fatalf("first response holds %v", r1.secrets)
	}
	if string(r1.secrets[WorkloadCert]) != string(EncodeTLSSecret(WorkloadCert, []byte("chain 1"), []byte("key 1"))) {
		t.Fatal("the workload secret is not the certificate given")
	}
	// A renewal while the first response is unanswered waits for its ACK.
	update(s, "2")
	c.none()
	c.send(sotwRequest(r1.nonce, []string{WorkloadCert, RootCA}, ""))
	r2 := decodeSotw(t, c.next())
	if r2.version == r1.version || r2.nonce == r1.nonce || string(r2.secrets[WorkloadCert]) != string(EncodeTLSSecret(WorkloadCert, []byte("chain 2"), []byte("key 2"))) {
		t.Fatalf("the renewal was not sent: %+v", r2)
	}
	// A NACK: the rejected content is not sent again until it changes.
	c.send(sotwRequest(r2.nonce, []string{WorkloadCert, RootCA}, "bad certificate"))
	c.none()
	update(s, "2")
	c.none()
	// A request answering an older response is stale and ignored whole: its names (ROOTCA
	// alone, which would make a new response) are not taken.
	c.send(sotwRequest(r1.nonce, []string{RootCA}, ""))
	c.none()
	update(s, "3")
	r3 := decodeSotw(t, c.next())
	if len(r3.secrets) != 2 {
		t.Fatalf("the stale request changed the subscription: %v", r3.secrets)
	}
	if string(r3.secrets[WorkloadCert]) != string(EncodeTLSSecret(WorkloadCert, []byte("chain 3"), []byte("key 3"))) {
		t.Fatal("a changed certificate after a NACK was not sent")
	}
}

func TestSotwAsksForOneName(t *testing.T) {
	s, conn, _ := start(t)
	update(s, "1")
	c := open(t, conn, "StreamSecrets")
	c.send(sotwRequest("", []string{RootCA}, ""))
	r := decodeSotw(t, c.next())
	if len(r.secrets) != 1 || r.secrets[RootCA] == nil {
		t.Fatalf("asked for ROOTCA, got %v", r.secrets)
	}
	// The key is only sent to a stream that asked for the workload certificate.
	c.send(sotwRequest(r.nonce, []string{RootCA, "other"}, ""))
	c.none()
}

func TestDelta(t *testing.T) {
	s, conn, _ := start(t)
	update(s, "1")
	c := open(t, conn, "DeltaSecrets")
	c.send(deltaRequest("", []string{WorkloadCert}, nil, nil))
	r1 := decodeDelta(t, c.next())
	if len(r1.secrets) != 1 || r1.secrets[WorkloadCert] == nil {
		t.Fatalf("delta: got %v", r1.secrets)
	}
	c.send(deltaRequest(r1.nonce, []string{RootCA}, nil, nil))
	r2 := decodeDelta(t, c.next())
	if len(r2.secrets) != 1 || r2.secrets[RootCA] == nil {
		t.Fatalf("delta: a new subscription should send only ROOTCA, got %v", r2.secrets)
	}
	c.send(deltaRequest(r2.nonce, nil, []string{RootCA}, nil))
	c.none()
	update(s, "2")
	r3 := decodeDelta(t, c.next())
	if len(r3.secrets) != 1 || r3.secrets[WorkloadCert] == nil {
		t.Fatalf("delta: after unsubscribing ROOTCA a renewal sends the certificate only, got %v", r3.secrets)
	}
}

func TestDeltaReconnectWithCurrentVersionsSendsNothing(t *testing.T) {
	s, conn, _ := start(t)
	update(s, "1")
	v, _ := s.secret(WorkloadCert)
	c := open(t, conn, "DeltaSecrets")
	c.send(deltaRequest("", []string{WorkloadCert}, nil, map[string]string{WorkloadCert: v.Version}))
	c.none()
	update(s, "2")
	if r := decodeDelta(t, c.next()); r.secrets[WorkloadCert] == nil {
		t.Fatal("a renewal after reconnecting was not sent")
	}
}

func TestAnotherTypeEndsTheStream(t *testing.T) {
	_, conn, _ := start(t)
	c := open(t, conn, "StreamSecrets")
	b := appendString(nil, 4, "type.googleapis.com/envoy.config.cluster.v3.Cluster")
	c.send(b)
	select {
	case _, ok := <-c.got:
		if ok {
			t.Fatal("a response to a request for another type")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the stream was not ended")
	}
	var m []byte
	if err := c.stream.RecvMsg(&m); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("ended with %v, want InvalidArgument", err)
	}
}

func TestFetch(t *testing.T) {
	s, conn, _ := start(t)
	update(s, "1")
	in := sotwRequest("", []string{RootCA}, "")
	var out []byte
	if err := conn.Invoke(context.Background(), "/"+serviceName+"/FetchSecrets", &in, &out, grpc.ForceCodec(rawCodec{})); err != nil {
		t.Fatal(err)
	}
	if r := decodeSotw(t, out); len(r.secrets) != 1 || r.secrets[RootCA] == nil {
		t.Fatalf("fetch: %v", r.secrets)
	}
}

func TestCertificateAndRootsChangeApart(t *testing.T) {
	s, conn, _ := start(t)
	c := open(t, conn, "StreamSecrets")
	c.send(sotwRequest("", []string{WorkloadCert, RootCA}, ""))
	// Roots alone: nothing to serve yet (the certificate is what Envoy waits for).
	s.SetRoots([]byte("root A"))
	c.none()
	s.SetCertificate([]byte("chain 1"), []byte("key 1"), []byte("root from the CA call"))
	r1 := decodeSotw(t, c.next())
	if string(r1.secrets[RootCA]) != string(EncodeValidationSecret(RootCA, []byte("root A"))) {
		t.Fatal("the roots set before the certificate were replaced by the certificate's")
	}
	c.send(sotwRequest(r1.nonce, []string{WorkloadCert, RootCA}, ""))
	s.SetRoots([]byte("root B"))
	r2 := decodeSotw(t, c.next())
	if string(r2.secrets[WorkloadCert]) != string(r1.secrets[WorkloadCert]) || string(r2.secrets[RootCA]) != string(EncodeValidationSecret(RootCA, []byte("root B"))) {
		t.Fatal("a root change did not keep the certificate")
	}
	c.send(sotwRequest(r2.nonce, []string{WorkloadCert, RootCA}, ""))
	// A renewal that read the older root file keeps the newer roots.
	s.SetCertificate([]byte("chain 2"), []byte("key 2"), []byte("root A"))
	r3 := decodeSotw(t, c.next())
	if string(r3.secrets[RootCA]) != string(EncodeValidationSecret(RootCA, []byte("root B"))) || string(r3.secrets[WorkloadCert]) != string(EncodeTLSSecret(WorkloadCert, []byte("chain 2"), []byte("key 2"))) {
		t.Fatal("a renewal brought back the older roots")
	}
}
