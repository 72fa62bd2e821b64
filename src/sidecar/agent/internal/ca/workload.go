package ca

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"log/slog"
	"time"
)

// Issued is a workload certificate as the agent serves it.
type Issued struct {
	// ChainPEM is the leaf and the intermediates above it (no root).
	ChainPEM []byte
	KeyPEM   []byte
	// RootPEM is the bundle read when it was issued.
	RootPEM  []byte
	NotAfter time.Time
}

// Workload obtains the pod's certificate and renews it at half its remaining lifetime. A failed
// request is retried with backoff; the current certificate stays in use meanwhile.
type Workload struct {
	SpiffeID string
	TTL      time.Duration
	// Sign asks the CA, verified against rootPEM: the chain, leaf first (the root may be last).
	Sign func(ctx context.Context, csrPEM []byte, ttl time.Duration, rootPEM []byte) ([][]byte, error)
	// ReadRoot is the mesh root as published to the pod (read at every issue: it may rotate).
	ReadRoot   func() ([]byte, error)
	Log        *slog.Logger
	MinBackoff time.Duration
	MaxBackoff time.Duration
}

// Obtain returns a key and certificate, retrying until the CA signs or ctx ends.
func (w *Workload) Obtain(ctx context.Context) (Issued, error) {
	backoff := w.MinBackoff
	if backoff <= 0 {
		backoff = 500 * time.Millisecond
	}
	maxBackoff := w.MaxBackoff
	if maxBackoff <= 0 {
		maxBackoff = 30 * time.Second
	}
	for {
		issued, err := w.once(ctx)
		if err == nil {
			w.Log.Info("workload certificate issued", "identity", w.SpiffeID, "notAfter", issued.NotAfter.UTC().Format(time.RFC3339))
			return issued, nil
		}
		if ctx.Err() != nil {
			return Issued{}, ctx.Err()
		}
		w.Log.Warn("cannot obtain the workload certificate; retrying", "identity", w.SpiffeID, "error", err.Error(), "retryMs", backoff.Milliseconds())
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return Issued{}, ctx.Err()
		}
		backoff = min(backoff*2, maxBackoff)
	}
}

func (w *Workload) once(ctx context.Context) (Issued, error) {
	csrPEM, keyPEM, err := CSR(w.SpiffeID)
	if err != nil {
		return Issued{}, err
	}
	// One reading of the roots both verifies the CA and trims the chain Envoy presents.
	rootPEM, err := w.ReadRoot()
	if err != nil {
		return Issued{}, err
	}
	callCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	chain, err := w.Sign(callCtx, csrPEM, w.TTL, rootPEM)
	if err != nil {
		return Issued{}, err
	}
	if len(chain) == 0 {
		return Issued{}, errors.New("the CA returned an empty chain")
	}
	// The root is trusted from the published file; the chain Envoy presents stops below it.
	// During a root change the file holds several roots: the chain's root is one of them.
	presented := chain
	if len(chain) > 1 && holds(rootPEM, chain[len(chain)-1]) {
		presented = chain[:len(chain)-1]
	}
	block, _ := pem.Decode(presented[0])
	if block == nil {
		return Issued{}, errors.New("the CA's leaf certificate is not PEM")
	}
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return Issued{}, err
	}
	return Issued{ChainPEM: bytes.Join(presented, nil), KeyPEM: keyPEM, RootPEM: rootPEM, NotAfter: leaf.NotAfter}, nil
}

// holds: the bundle has the certificate cert (compared as DER).
func holds(bundle, cert []byte) bool {
	c, _ := pem.Decode(cert)
	if c == nil {
		return false
	}
	for _, r := range splitPEM(bundle) {
		b, _ := pem.Decode(r)
		if b != nil && bytes.Equal(b.Bytes, c.Bytes) {
			return true
		}
	}
	return false
}

// RenewEvery calls renewed with a new certificate at half the remaining lifetime of current,
// and so on, until ctx ends.
func (w *Workload) RenewEvery(ctx context.Context, current Issued, renewed func(Issued)) {
	for {
		// Half of what is left: notBefore is backdated (clock skew), so half the nominal lifetime
		// would come too early.
		delay := max(time.Second, time.Until(current.NotAfter)/2)
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		next, err := w.Obtain(ctx)
		if err != nil {
			return // ctx ended
		}
		renewed(next)
		current = next
	}
}
