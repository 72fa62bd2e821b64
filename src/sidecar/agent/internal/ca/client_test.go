package ca

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
)

type issuer struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newIssuer(t *testing.T, name string) issuer {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return issuer{cert: c, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// serving is a server certificate for dnsName, signed by the issuer.
func (i issuer) serving(t *testing.T, dnsName string) tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), DNSNames: []string{dnsName}, NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, i.cert, &key.PublicKey, i.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// impostor is a TLS gRPC server that answers any call and records the tokens it was sent.
type impostor struct {
	mu     sync.Mutex
	tokens []string
}

func (m *impostor) serve(t *testing.T, cert tls.Certificate) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer(grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{cert}})), grpc.UnknownServiceHandler(func(_ any, st grpc.ServerStream) error {
		md, _ := metadata.FromIncomingContext(st.Context())
		m.mu.Lock()
		m.tokens = append(m.tokens, md.Get("authorization")...)
		m.mu.Unlock()
		return nil
	}))
	go func() { _ = s.Serve(l) }()
	t.Cleanup(s.Stop)
	return l.Addr().String()
}

func (m *impostor) heard() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.tokens...)
}

func sign(t *testing.T, address string, root []byte) error {
	csr, _, err := CSR(SpiffeID("cluster.local", "shop", "reviews"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = Sign(ctx, Request{Address: address, RootPEM: root, ServerName: "trellis.trellis-system.svc", Token: "the-pods-token", CSRPEM: csr})
	return err
}

// The attack: a server that is not the mesh CA (its certificate from another root, or the mesh
// root's but for another name) would collect the pod's token if the agent sent it. The agent
// refuses the handshake, and the token never leaves it.
func TestTheTokenGoesOnlyToTheVerifiedCA(t *testing.T) {
	mesh, other := newIssuer(t, "mesh root"), newIssuer(t, "another root")

	foreign := &impostor{}
	err := sign(t, foreign.serve(t, other.serving(t, "trellis.trellis-system.svc")), mesh.pem)
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("a server of another root: %v, want a certificate error", err)
	}
	misnamed := &impostor{}
	err = sign(t, misnamed.serve(t, mesh.serving(t, "evil.attacker.svc")), mesh.pem)
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("a server of the mesh root for another name: %v, want a certificate error", err)
	}
	if got := append(foreign.heard(), misnamed.heard()...); len(got) != 0 {
		t.Fatalf("the token reached an impostor: %v", got)
	}

	// The check is real: the mesh root's certificate for the control plane's name is trusted,
	// and the token is sent to it (this stand-in answers nothing, hence an error after the call).
	genuine := &impostor{}
	_ = sign(t, genuine.serve(t, mesh.serving(t, "trellis.trellis-system.svc")), mesh.pem)
	if got := genuine.heard(); len(got) != 1 || got[0] != "Bearer the-pods-token" {
		t.Fatalf("the verified CA got %v", got)
	}
}
