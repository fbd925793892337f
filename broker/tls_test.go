package broker

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"

	"github.com/sieve-project/sieve/config"
)

// newCert writes a certificate and its key, signed by ca, or self-signed
// when ca is nil.
func newCert(t *testing.T, dir, name string, ca *x509.Certificate, caKey *ecdsa.PrivateKey, isCA bool) (certPath, keyPath string, cert *x509.Certificate, key *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IsCA:         isCA, BasicConstraintsValid: true,
	}
	parent, signer := tmpl, key
	if ca != nil {
		parent, signer = ca, caKey
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ = x509.ParseCertificate(der)
	certPath, keyPath = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem")
	os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	kb, _ := x509.MarshalECPrivateKey(key)
	os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	return certPath, keyPath, cert, key
}

func TestConnectTLSWithClientCert(t *testing.T) {
	dir := t.TempDir()
	caPath, _, ca, caKey := newCert(t, dir, "ca", nil, nil, true)
	srvCert, srvKey, _, _ := newCert(t, dir, "server", ca, caKey, false)
	cliCert, cliKey, _, _ := newCert(t, dir, "client", ca, caKey, false)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	pair, err := tls.LoadX509KeyPair(srvCert, srvKey)
	if err != nil {
		t.Fatal(err)
	}
	url := external(t, &server.Options{
		TLS:       true,
		TLSVerify: true, // the client must show a certificate
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{pair}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12},
	})
	if !strings.HasPrefix(url, "tls://127.0.0.1:") {
		t.Fatalf("server URL %q: want tls on loopback", url)
	}
	log := slog.New(slog.DiscardHandler)
	connected := func(c config.NATS) bool {
		t.Helper()
		c.Prefix = "sieve"
		conn, err := Connect(context.Background(), c, "", "test", log)
		if err != nil {
			t.Logf("connect: %v", err)
			return false
		}
		defer conn.Close()
		for i := 0; i < 50 && !conn.NC.IsConnected(); i++ {
			time.Sleep(20 * time.Millisecond)
		}
		return conn.NC.IsConnected()
	}
	if !connected(config.NATS{URL: url, TLSCA: caPath, TLSCert: cliCert, TLSKey: cliKey}) {
		t.Fatal("TLS with CA and client certificate did not connect")
	}
	if connected(config.NATS{URL: url, TLSCA: caPath}) {
		t.Fatal("connected without the client certificate the server requires")
	}
}

func TestConnectNkey(t *testing.T) {
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := kp.PublicKey()
	seed, _ := kp.Seed()
	seedFile := filepath.Join(t.TempDir(), "user.nk")
	os.WriteFile(seedFile, seed, 0o600)
	url := external(t, &server.Options{Nkeys: []*server.NkeyUser{{Nkey: pub}}})
	c, err := Connect(context.Background(), config.NATS{URL: url, Prefix: "sieve", NkeySeedFile: seedFile}, "", "test", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := 0; i < 50 && !c.NC.IsConnected(); i++ {
		time.Sleep(20 * time.Millisecond)
	}
	if !c.NC.IsConnected() {
		t.Fatal("nkey seed file did not authenticate")
	}
}
