package ca

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/pem"
	"testing"
)

func TestCSRNamesOnlyTheSpiffeID(t *testing.T) {
	id := SpiffeID("cluster.local", "shop", "reviews")
	csrPEM, keyPEM, err := CSR(id)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(csrPEM)
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if err := csr.CheckSignature(); err != nil {
		t.Fatal(err)
	}
	if len(csr.URIs) != 1 || csr.URIs[0].String() != "spiffe://cluster.local/ns/shop/sa/reviews" || len(csr.DNSNames)+len(csr.EmailAddresses)+len(csr.IPAddresses) != 0 || csr.Subject.String() != "" {
		t.Fatalf("CSR names %v %v %v %q", csr.URIs, csr.DNSNames, csr.IPAddresses, csr.Subject)
	}
	kb, _ := pem.Decode(keyPEM)
	key, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil || kb.Type != "PRIVATE KEY" {
		t.Fatalf("key: %v %s", err, kb.Type)
	}
	ec, ok := key.(*ecdsa.PrivateKey)
	if !ok || ec.Curve != elliptic.P256() || !ec.PublicKey.Equal(csr.PublicKey) {
		t.Fatal("the key is not the CSR's P-256 key")
	}
}

func TestCSRRefusesWhatIsNotASpiffeID(t *testing.T) {
	for _, id := range []string{"", "https://cluster.local/ns/a/sa/b", "spiffe://cluster local/ns/a"} {
		if _, _, err := CSR(id); err == nil {
			t.Errorf("%q: no error", id)
		}
	}
}

func TestHoldsComparesCertificatesNotText(t *testing.T) {
	der := []byte{0x30, 0x03, 0x02, 0x01, 0x01}
	a := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	bundle := append([]byte("# a comment\n"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{0x30, 0x00}})...)
	bundle = append(bundle, a...)
	if !holds(bundle, a) || holds(bundle[:20], a) {
		t.Fatal("holds")
	}
}
