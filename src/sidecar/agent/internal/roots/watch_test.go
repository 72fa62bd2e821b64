package roots

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func cert(t *testing.T, isCA bool) []byte {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "test"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: isCA, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func TestCheck(t *testing.T) {
	a, b := cert(t, true), cert(t, true)
	if certs, err := Check(append(append([]byte{}, a...), b...)); err != nil || len(certs) != 2 {
		t.Fatalf("a bundle of two roots: %v, %d", err, len(certs))
	}
	for name, tc := range map[string]struct {
		text []byte
		says string
	}{
		"empty":         {nil, "holds no PEM certificate"},
		"not PEM":       {[]byte("hello"), "holds no PEM certificate"},
		"a leaf":        {append(append([]byte{}, a...), cert(t, false)...), "certificate 2"},
		"a key beside":  {append(append([]byte{}, a...), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1}})...), "PRIVATE KEY"},
		"a broken cert": {pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1, 2, 3}}), "does not parse"},
	} {
		if _, err := Check(tc.text); err == nil || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%s: %v, want an error saying %q", name, err, tc.says)
		}
	}
}

func TestWatcherHandsOverValidChangesOnly(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "root-cert.pem")
	first := cert(t, true)
	if err := os.WriteFile(file, first, 0o644); err != nil {
		t.Fatal(err)
	}
	var got [][]byte
	w := NewWatcher(file, first, slog.New(slog.NewTextHandler(io.Discard, nil)), func(b []byte) { got = append(got, b) })
	w.Check()
	if len(got) != 0 {
		t.Fatal("an unchanged file was handed over")
	}
	if err := os.WriteFile(file, cert(t, false), 0o644); err != nil {
		t.Fatal(err)
	}
	w.Check()
	if len(got) != 0 || string(w.Accepted()) != string(first) {
		t.Fatal("a leaf certificate was accepted as the root")
	}
	bundle := append(append([]byte{}, first...), cert(t, true)...)
	if err := os.WriteFile(file, bundle, 0o644); err != nil {
		t.Fatal(err)
	}
	w.Check()
	if len(got) != 1 || string(got[0]) != string(bundle) || string(w.Accepted()) != string(bundle) {
		t.Fatal("a valid bundle was not handed over")
	}
}
