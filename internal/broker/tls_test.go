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
	"errors"
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

	"github.com/sieve-project/sieve/internal/config"
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

// TestConnectErrorsNameTheCause: refused credentials and failed TLS end
// Connect at once, with the cause and the setting to fix; no password
// appears in the message.
func TestConnectErrorsNameTheCause(t *testing.T) {
	dir := t.TempDir()
	caPath, _, ca, caKey := newCert(t, dir, "ca", nil, nil, true)
	otherCA, _, _, _ := newCert(t, dir, "other-ca", nil, nil, true)
	srvCert, srvKey, _, _ := newCert(t, dir, "server", ca, caKey, false)
	cliCert, cliKey, _, _ := newCert(t, dir, "client", ca, caKey, false)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	pair, err := tls.LoadX509KeyPair(srvCert, srvKey)
	if err != nil {
		t.Fatal(err)
	}
	tlsConf := func(clientAuth tls.ClientAuthType) *tls.Config {
		return &tls.Config{Certificates: []tls.Certificate{pair}, ClientCAs: pool, ClientAuth: clientAuth, MinVersion: tls.VersionTLS12}
	}
	mutual := external(t, &server.Options{TLS: true, TLSVerify: true, TLSConfig: tlsConf(tls.RequireAndVerifyClientCert)})
	serverOnly := external(t, &server.Options{TLS: true, TLSConfig: tlsConf(tls.NoClientCert)})
	plain := external(t, &server.Options{Username: "sieve", Password: "S3cr3t-pw"})
	userURL := strings.Replace(plain, "nats://", "nats://sieve:wr0ng-pw@", 1)

	for _, tt := range []struct {
		name string
		c    config.NATS
		is   error
		says []string
	}{
		{"wrong password", config.NATS{URL: plain, User: "sieve", Password: "wr0ng-pw"}, ErrAuthorization, []string{"refused these credentials", "nats.password"}},
		{"wrong password in the URL", config.NATS{URL: userURL}, ErrAuthorization, []string{"refused these credentials", "sieve:xxxxx@"}},
		{"no credentials", config.NATS{URL: plain}, ErrAuthorization, []string{"refused these credentials"}},
		{"server certificate from another CA", config.NATS{URL: serverOnly, TLSCA: otherCA}, ErrTLS, []string{"does not verify against nats.tls_ca " + otherCA}},
		{"no CA for the server's certificate", config.NATS{URL: serverOnly}, ErrTLS, []string{"does not verify against the system's roots", "set nats.tls_ca"}},
		{"no client certificate", config.NATS{URL: mutual, TLSCA: caPath}, ErrTLS, []string{"requires a client certificate", "nats.tls_cert"}},
		{"TLS wanted, server has none", config.NATS{URL: strings.Replace(plain, "nats://", "tls://", 1), User: "sieve", Password: "S3cr3t-pw", TLSCA: caPath}, ErrTLS, []string{"offers none"}},
		{"server requires TLS", config.NATS{URL: serverOnly}, ErrTLS, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.c.Prefix = "sieve"
			if tt.name == "server requires TLS" {
				tt.c.URL = strings.Replace(serverOnly, "tls://", "nats://", 1)
			}
			start := time.Now()
			c, err := Connect(context.Background(), tt.c, "", "test", slog.New(slog.DiscardHandler))
			if err == nil {
				c.Close()
				t.Fatal("connected")
			}
			if !errors.Is(err, tt.is) {
				t.Fatalf("error %v, want %v", err, tt.is)
			}
			for _, w := range tt.says {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			for _, secret := range []string{"S3cr3t-pw", "wr0ng-pw"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q repeats a password", err)
				}
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %v: a refusal should end Connect at once", d)
			}
		})
	}
	// Right credentials work, and a server that is not there yet is waited
	// for, not refused.
	if c, err := Connect(context.Background(), config.NATS{URL: mutual, Prefix: "sieve", TLSCA: caPath, TLSCert: cliCert, TLSKey: cliKey}, "", "test", slog.New(slog.DiscardHandler)); err != nil {
		t.Fatalf("mutual TLS: %v", err)
	} else {
		c.Close()
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	nobody := "nats://" + l.Addr().String()
	l.Close()
	c, err := Connect(context.Background(), config.NATS{URL: nobody, Prefix: "sieve"}, "", "test", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("no server yet: %v, want a connection that keeps trying", err)
	}
	c.Close()
}
