package gateway

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/sieve-project/sieve/internal/config"
)

// Key is one API key and what it binds its holder to.
type Key struct {
	Secret string // the bearer token; at least config.MinAPIKeyLength characters
	Policy string // the filter policy every request runs under; "" = the default, or X-Sieve-Policy
	Tenant string // the first token of every job id; "" = "http"
	Source string // where it was read ("file:line"), for errors
}

// ErrBadKey wraps every problem with a key's definition.
var ErrBadKey = errors.New("bad API key")

// Check returns what is wrong with k, if anything.
func (k Key) Check() error {
	where := ""
	if k.Source != "" {
		where = k.Source + ": "
	}
	switch {
	case len(k.Secret) < config.MinAPIKeyLength:
		return fmt.Errorf("%w: %skey: want at least %d characters", ErrBadKey, where, config.MinAPIKeyLength)
	case strings.ContainsAny(k.Secret, " \t\r\n"):
		return fmt.Errorf("%w: %skey: no spaces", ErrBadKey, where)
	case k.Policy != "" && !config.ValidPolicyName(k.Policy):
		return fmt.Errorf("%w: %spolicy %q: a policy name is letters, digits, '_' and '-'", ErrBadKey, where, k.Policy)
	case k.Tenant != "" && !config.ValidTenant(k.Tenant):
		return fmt.Errorf("%w: %stenant %q: want up to 64 letters, digits, '_' and '-', not starting with '_'", ErrBadKey, where, k.Tenant)
	}
	return nil
}

// LoadKeys reads a keys file: one key per line, as
//
//	SECRET [policy=NAME] [tenant=PREFIX]
//
// with blank lines and lines starting with # ignored. Every problem is
// reported, each with path:line, and no line echoes a secret. A file
// without a key is an error: the door fails closed.
func LoadKeys(path string) ([]Key, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var (
		keys []Key
		errs []error
	)
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		k := Key{Secret: f[0], Source: fmt.Sprintf("%s:%d", path, n)}
		for _, opt := range f[1:] {
			name, val, _ := strings.Cut(opt, "=")
			switch name {
			case "policy":
				k.Policy = val
			case "tenant":
				k.Tenant = val
			default:
				errs = append(errs, fmt.Errorf("%w: %s: %q: want policy=NAME or tenant=PREFIX after the key", ErrBadKey, k.Source, opt))
			}
		}
		if err := k.Check(); err != nil {
			errs = append(errs, err)
		}
		keys = append(keys, k)
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", path, err))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		// A door configured with a key file and given none would take
		// every request: it fails closed instead.
		return nil, fmt.Errorf("%w: %s holds no key: a key file must hold at least one (to serve without keys, leave http.api_keys_file out)", ErrBadKey, path)
	}
	return keys, nil
}

// keyring holds keys as SHA-256 hashes, so a lookup compares every
// stored hash in constant time and never the secrets themselves.
type keyring struct {
	keys []storedKey
}

type storedKey struct {
	hash   [sha256.Size]byte
	policy string
	tenant string
}

func newKeyring(keys []Key) (*keyring, error) {
	r := &keyring{}
	seen := map[[sha256.Size]byte]string{}
	for _, k := range keys {
		if err := k.Check(); err != nil {
			return nil, err
		}
		h := sha256.Sum256([]byte(k.Secret))
		if prev, dup := seen[h]; dup {
			return nil, fmt.Errorf("%w: %s: the same key as %s", ErrBadKey, k.Source, prev)
		}
		seen[h] = k.Source
		r.keys = append(r.keys, storedKey{hash: h, policy: k.Policy, tenant: k.Tenant})
	}
	return r, nil
}

// lookup returns the key matching secret. It looks at every key whatever
// it finds, so its time says nothing about which key came close.
func (r *keyring) lookup(secret string) (storedKey, bool) {
	h := sha256.Sum256([]byte(secret))
	var (
		found storedKey
		ok    int
	)
	for _, k := range r.keys {
		if subtle.ConstantTimeCompare(h[:], k.hash[:]) == 1 {
			found, ok = k, 1
		}
	}
	return found, ok == 1
}

// idPrefix is the first token of a key holder's job ids.
func (k storedKey) idPrefix() string {
	if k.tenant != "" {
		return k.tenant
	}
	return "http"
}
