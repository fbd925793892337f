package broker

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sieve-project/sieve/internal/config"
)

// Causes that connecting and requests are refused for; test with
// errors.Is.
var (
	ErrAuthorization = errors.New("authorization violation") // the server refused the credentials
	ErrTLS           = errors.New("TLS failed")              // the handshake or the certificate check
	ErrPermission    = errors.New("permission denied")       // the server refused a subject to these credentials
)

// permDenied is the last permissions violation the server reported.
// Servers report them asynchronously: a request whose subscription or
// publish was refused only times out, and this is how it learns why.
type permDenied struct {
	err error
	at  time.Time
}

// notePermission records err if it is a permissions violation.
func (c *Conn) notePermission(err error) {
	if errors.Is(err, nats.ErrPermissionViolation) {
		c.perm.Store(&permDenied{err: err, at: time.Now()})
	}
}

// explain returns err with its cause where the server gave one: a
// permissions violation since the operation began (reported apart from
// the operation, which only timed out), or the connection's last error.
func (c *Conn) explain(err error) error {
	return c.explainSince(err, time.Time{})
}

func (c *Conn) explainSince(err error, since time.Time) error {
	if err == nil {
		return nil
	}
	if p := c.perm.Load(); p != nil && !p.at.Before(since) {
		return fmt.Errorf("%w: %v (the credentials in nats.* must allow it; see README, \"Least privilege\"): %w", ErrPermission, strings.TrimPrefix(p.err.Error(), "nats: permissions violation: "), err)
	}
	if c.NC != nil {
		if last := c.NC.LastError(); last != nil && !errors.Is(err, last) {
			if errors.Is(last, nats.ErrAuthorization) {
				return fmt.Errorf("%w: %w (last connection error: %v)", ErrAuthorization, err, last)
			}
			return fmt.Errorf("%w (last connection error: %v)", err, last)
		}
	}
	return err
}

// diagnose names why connecting failed, with the setting to fix, for
// failures that waiting will not cure: refused credentials and TLS. It
// returns nil for the others (no server yet, a network partition), which
// a worker waits out.
func diagnose(err error, c config.NATS) error {
	var (
		unknownCA x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
		alert     tls.AlertError
		recErr    tls.RecordHeaderError
		opErr     *net.OpError
	)
	ca := "the system's roots (set nats.tls_ca to the CA that signed the server's certificate)"
	if c.TLSCA != "" {
		ca = "nats.tls_ca " + c.TLSCA
	}
	msg := err.Error()
	switch {
	case errors.Is(err, nats.ErrAuthorization), errors.Is(err, nats.ErrAuthExpired), errors.Is(err, nats.ErrAuthRevoked), errors.Is(err, nats.ErrAccountAuthExpired):
		return fmt.Errorf("%w: the server refused these credentials (%v): check nats.user and nats.password, nats.token, nats.nkey_seed_file or nats.creds_file", ErrAuthorization, err)
	case errors.As(err, &unknownCA):
		return fmt.Errorf("%w: the server's certificate does not verify against %s: %v", ErrTLS, ca, err)
	case errors.As(err, &hostname):
		return fmt.Errorf("%w: the server's certificate is not for the host in nats.url: %v", ErrTLS, err)
	case errors.As(err, &invalid):
		return fmt.Errorf("%w: the server's certificate is not valid (%v), checked against %s", ErrTLS, err, ca)
	case errors.Is(err, nats.ErrSecureConnRequired):
		return fmt.Errorf("%w: the server requires TLS: use a tls:// URL or set nats.tls_ca", ErrTLS)
	case errors.Is(err, nats.ErrSecureConnWanted):
		return fmt.Errorf("%w: TLS is configured here (tls:// or nats.tls_*) but the server offers none", ErrTLS)
	case errors.As(err, &alert), strings.Contains(msg, "closed by remote after TLS handshake"),
		strings.Contains(msg, "tls: certificate required"), strings.Contains(msg, "tls: bad certificate"),
		strings.Contains(msg, "tls: unknown certificate authority"), strings.Contains(msg, "tls: expired certificate"):
		// The server turned the handshake down: this side's certificate.
		if c.TLSCert == "" {
			return fmt.Errorf("%w: the server requires a client certificate: set nats.tls_cert and nats.tls_key (%v)", ErrTLS, err)
		}
		return fmt.Errorf("%w: the server refused the client certificate nats.tls_cert %s (%v)", ErrTLS, c.TLSCert, err)
	case errors.As(err, &recErr):
		return fmt.Errorf("%w: the server does not speak TLS here (%v)", ErrTLS, err)
	case errors.As(err, &opErr) && opErr.Op == "remote error":
		return fmt.Errorf("%w: %v", ErrTLS, err)
	}
	return nil
}
