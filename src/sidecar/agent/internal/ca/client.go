// Package ca is the workload side of the mesh CA: a key made in the pod, a CSR for the pod's own
// SPIFFE ID, sent with the pod's token over TLS to Istio's certificate service
// (istio.v1.auth.IstioCertificateService/CreateCertificate) on the control plane's 15012.
package ca

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/protowire"
)

var spiffePattern = regexp.MustCompile(`^spiffe://[\x21-\x7e]+$`)

// SpiffeID is spiffe://<trust domain>/ns/<namespace>/sa/<service account>.
func SpiffeID(trustDomain, namespace, serviceAccount string) string {
	return fmt.Sprintf("spiffe://%s/ns/%s/sa/%s", trustDomain, namespace, serviceAccount)
}

// CSR is a new EC P-256 key (PKCS #8 PEM) and a CSR (PEM) whose only name is the SPIFFE ID as
// a URI SAN; the subject is empty, as the mesh CA expects.
func CSR(spiffeID string) (csrPEM, keyPEM []byte, err error) {
	if !spiffePattern.MatchString(spiffeID) {
		return nil, nil, fmt.Errorf("not a SPIFFE ID: %q", spiffeID)
	}
	u, err := url.Parse(spiffeID)
	if err != nil {
		return nil, nil, fmt.Errorf("not a SPIFFE ID: %q: %w", spiffeID, err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{URIs: []*url.URL{u}}, key)
	if err != nil {
		return nil, nil, err
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}), nil
}

// Request is one call to the CA.
type Request struct {
	// Address is host:port of the CA (the control plane's 15012).
	Address string
	// RootPEM is the mesh root(s) the server's certificate must chain to.
	RootPEM []byte
	// ServerName is the name the server's certificate must carry.
	ServerName string
	// Token is the pod's service account token for audience istio-ca.
	Token  string
	CSRPEM []byte
	// TTL asked for; 0 lets the CA choose.
	TTL time.Duration
}

const createCertificate = "/istio.v1.auth.IstioCertificateService/CreateCertificate"

// Sign returns the signed chain, one PEM certificate each, leaf first (the root may be last).
// A refusal is the gRPC error, whose code and message say why.
func Sign(ctx context.Context, r Request) ([][]byte, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(r.RootPEM) {
		return nil, errors.New("no root certificate to verify the CA with")
	}
	creds := credentials.NewTLS(&tls.Config{RootCAs: pool, ServerName: r.ServerName, MinVersion: tls.VersionTLS12})
	conn, err := grpc.NewClient(r.Address, grpc.WithTransportCredentials(creds), grpc.WithAuthority(r.ServerName))
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	// IstioCertificateRequest: csr (1), validity_duration in seconds (3).
	in := protowire.AppendTag(nil, 1, protowire.BytesType)
	in = protowire.AppendBytes(in, r.CSRPEM)
	if secs := int64(r.TTL / time.Second); secs > 0 {
		in = protowire.AppendTag(in, 3, protowire.VarintType)
		in = protowire.AppendVarint(in, uint64(secs))
	}
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+r.Token)
	var out []byte
	if err := conn.Invoke(ctx, createCertificate, &in, &out, grpc.ForceCodec(rawCodec{})); err != nil {
		return nil, err
	}
	// IstioCertificateResponse: cert_chain (1), repeated; an entry may hold several certificates.
	var chain [][]byte
	for b := out; len(b) > 0; {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, fmt.Errorf("the CA's answer does not parse: %w", protowire.ParseError(n))
		}
		b = b[n:]
		if num == 1 && typ == protowire.BytesType {
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return nil, fmt.Errorf("the CA's answer does not parse: %w", protowire.ParseError(n))
			}
			chain = append(chain, splitPEM(v)...)
			b = b[n:]
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return nil, fmt.Errorf("the CA's answer does not parse: %w", protowire.ParseError(n))
		}
		b = b[n:]
	}
	if len(chain) == 0 {
		return nil, errors.New("the CA answered without a certificate")
	}
	return chain, nil
}

// splitPEM is each CERTIFICATE block of b, re-encoded on its own.
func splitPEM(b []byte) [][]byte {
	var out [][]byte
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			return out
		}
		if block.Type == "CERTIFICATE" {
			out = append(out, pem.EncodeToMemory(block))
		}
	}
}

type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *(v.(*[]byte)), nil }
func (rawCodec) Unmarshal(data []byte, v any) error {
	*(v.(*[]byte)) = append([]byte(nil), data...)
	return nil
}
func (rawCodec) Name() string { return "proto" }
