package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newCA(t *testing.T) *testCA {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue returns PEM certificate and key for a leaf signed by ca.
func (ca *testCA) issue(t *testing.T, serial int64, usage x509.ExtKeyUsage) (certPEM, keyPEM []byte) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: fmt.Sprint("leaf ", serial)},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:    x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
}

func TestMutualTLS(t *testing.T) {
	dir := t.TempDir()
	ca := newCA(t)
	srvCert, srvKey := ca.issue(t, 2, x509.ExtKeyUsageServerAuth)
	cliCert, cliKey := ca.issue(t, 3, x509.ExtKeyUsageClientAuth)
	files := map[string][]byte{"ca.pem": ca.pem, "srv.pem": srvCert, "srv.key": srvKey}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	up := newUpstream(t)
	cfg := strings.Replace(e2eConfig(up.URL), "listen: 127.0.0.1:0", fmt.Sprintf(
		"listen: 127.0.0.1:0\ntls: {cert_file: %s, key_file: %s, client_ca_file: %s}",
		filepath.Join(dir, "srv.pem"), filepath.Join(dir, "srv.key"), filepath.Join(dir, "ca.pem")), 1)
	base, _, _ := startAirlock(t, []string{"serve", "-config", writeConfig(t, cfg)}, map[string]string{"UPSTREAM_KEY": "k"})
	if !strings.HasPrefix(base, "https://") {
		t.Fatalf("base %s is not https", base)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	pair, _ := tls.X509KeyPair(cliCert, cliKey)

	get := func(certs []tls.Certificate) error {
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: certs}}}
		resp, err := c.Get(base + "/healthz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}
	if err := get(nil); err == nil {
		t.Error("a client without a certificate was served")
	}
	if err := get([]tls.Certificate{pair}); err != nil {
		t.Errorf("a client with a valid certificate was refused: %v", err)
	}
	other := newCA(t)
	badCert, badKey := other.issue(t, 4, x509.ExtKeyUsageClientAuth)
	bad, _ := tls.X509KeyPair(badCert, badKey)
	if err := get([]tls.Certificate{bad}); err == nil {
		t.Error("a client certificate from another CA was accepted")
	}
}

func TestTLSAllowsPublicListen(t *testing.T) {
	// With TLS, a non-loopback address is allowed; check the rule only.
	if loopback("0.0.0.0:8080") || loopback(":8080") || !loopback("127.0.0.1:1") || !loopback("[::1]:1") || !loopback("localhost:1") {
		t.Error("loopback() misclassifies an address")
	}
}
