package sds

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"
)

// Istio's names of the two secrets.
const (
	WorkloadCert = "default"
	RootCA       = "ROOTCA"
)

func digest(parts ...[]byte) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write(p)
	}
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil))[:16]
}

func encoded(name string, b []byte) EncodedSecret {
	return EncodedSecret{Name: name, Bytes: b, Version: digest(b)}
}

// SetVersion is a state-of-the-world version of a set of secrets: a digest of names and versions.
func SetVersion(secrets []EncodedSecret) string {
	sorted := append([]EncodedSecret(nil), secrets...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	var parts [][]byte
	for _, s := range sorted {
		parts = append(parts, []byte(s.Name), []byte{0}, []byte(s.Version), []byte{0})
	}
	return digest(parts...)
}

// Server serves envoy.service.secret.v3.SecretDiscoveryService (StreamSecrets, DeltaSecrets,
// FetchSecrets) on a Unix socket that only the agent's user may open.
type Server struct {
	log  *slog.Logger
	grpc *grpc.Server

	mu sync.RWMutex
	// The certificate and the roots change apart (a renewal, a root change), and whichever
	// comes later must not bring back the other's older half.
	chainPEM, keyPEM, rootPEM []byte
	current                   map[string]EncodedSecret
	streams                   map[*stream]struct{}
}

// ControlPlaneID is what the responses name as their control plane.
const ControlPlaneID = "trellis-agent"

// NewServer serves nothing until it has a certificate and roots (Envoy waits for them).
func NewServer(log *slog.Logger) *Server {
	s := &Server{log: log, current: map[string]EncodedSecret{}, streams: map[*stream]struct{}{}}
	s.grpc = grpc.NewServer(
		grpc.ForceServerCodec(rawCodec{}),
		// Envoy may ping an idle connection; that is not abuse here.
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}),
	)
	s.grpc.RegisterService(&serviceDesc, s)
	return s
}

// Listen binds the socket (replacing a stale one of an earlier agent), readable and writable by
// this user only: only this pod's proxy, which runs as the same user, may connect.
func (s *Server) Listen(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("cannot serve SDS on %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		return nil, fmt.Errorf("cannot serve SDS on %s: %w", path, err)
	}
	// The mode is set at creation (no window in which another user could connect).
	old := syscall.Umask(0o177)
	l, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("cannot serve SDS on %s: %w", path, err)
	}
	return l, nil
}

// Serve answers on l until Stop.
func (s *Server) Serve(l net.Listener) error { return s.grpc.Serve(l) }

// Stop ends every stream and the server.
func (s *Server) Stop() { s.grpc.Stop() }

// SetCertificate serves a new workload certificate (the chain without the root, and its key)
// with the roots last set, or with rootPEM when none were. Envoy gets it on its open streams.
func (s *Server) SetCertificate(chainPEM, keyPEM, rootPEM []byte) {
	s.mu.Lock()
	s.chainPEM, s.keyPEM = chainPEM, keyPEM
	if len(s.rootPEM) == 0 {
		s.rootPEM = rootPEM
	}
	s.changed()
}

// SetRoots serves a new root bundle with the certificate last set (none yet: kept for it).
func (s *Server) SetRoots(rootPEM []byte) {
	s.mu.Lock()
	s.rootPEM = rootPEM
	s.changed()
}

// changed re-encodes the secrets and wakes the streams; called with mu held, it releases it.
func (s *Server) changed() {
	if len(s.chainPEM) == 0 || len(s.rootPEM) == 0 {
		s.mu.Unlock()
		return
	}
	s.current = map[string]EncodedSecret{
		WorkloadCert: encoded(WorkloadCert, EncodeTLSSecret(WorkloadCert, s.chainPEM, s.keyPEM)),
		RootCA:       encoded(RootCA, EncodeValidationSecret(RootCA, s.rootPEM)),
	}
	streams := make([]*stream, 0, len(s.streams))
	for st := range s.streams {
		streams = append(streams, st)
	}
	s.mu.Unlock()
	for _, st := range streams {
		st.wake()
	}
}

func (s *Server) secret(name string) (EncodedSecret, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	v, ok := s.current[name]
	return v, ok
}

func serves(name string) bool { return name == WorkloadCert || name == RootCA }

func (s *Server) track(st *stream) func() {
	s.mu.Lock()
	s.streams[st] = struct{}{}
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		delete(s.streams, st)
		s.mu.Unlock()
	}
}

// rawCodec passes messages through as bytes: wire.go encodes and decodes them.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) {
	b, ok := v.(*[]byte)
	if !ok {
		return nil, fmt.Errorf("rawCodec: cannot marshal %T", v)
	}
	return *b, nil
}

func (rawCodec) Unmarshal(data []byte, v any) error {
	b, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("rawCodec: cannot unmarshal into %T", v)
	}
	*b = append((*b)[:0], data...)
	return nil
}

func (rawCodec) Name() string { return "proto" }

const serviceName = "envoy.service.secret.v3.SecretDiscoveryService"

var serviceDesc = grpc.ServiceDesc{
	ServiceName: serviceName,
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "FetchSecrets",
		Handler: func(srv any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			var in []byte
			if err := dec(&in); err != nil {
				return nil, err
			}
			req, err := DecodeDiscoveryRequest(in)
			if err != nil {
				return nil, status.Error(codes.InvalidArgument, err.Error())
			}
			out := srv.(*Server).fetch(req)
			return &out, nil
		},
	}},
	Streams: []grpc.StreamDesc{
		{StreamName: "StreamSecrets", ServerStreams: true, ClientStreams: true, Handler: func(srv any, ss grpc.ServerStream) error {
			return srv.(*Server).serveStream(ss, false)
		}},
		{StreamName: "DeltaSecrets", ServerStreams: true, ClientStreams: true, Handler: func(srv any, ss grpc.ServerStream) error {
			return srv.(*Server).serveStream(ss, true)
		}},
	},
}

// fetch answers FetchSecrets: the requested secrets now, no state kept.
func (s *Server) fetch(req *DiscoveryRequest) []byte {
	var secrets []EncodedSecret
	for _, n := range req.ResourceNames {
		if v, ok := s.secret(n); ok {
			secrets = append(secrets, v)
		}
	}
	return EncodeDiscoveryResponse(SetVersion(secrets), "", secrets, ControlPlaneID)
}
