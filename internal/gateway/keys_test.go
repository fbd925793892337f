package gateway

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadKeys(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys")
	os.WriteFile(path, []byte("# tenants\nsk-aaaaaaaaaaaaaaaaaaaa policy=soft tenant=acme\n\nsk-bbbbbbbbbbbbbbbbbbbb\n"), 0o600)
	keys, err := LoadKeys(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || keys[0].Policy != "soft" || keys[0].Tenant != "acme" || keys[1].Source != path+":4" {
		t.Fatalf("got %+v", keys)
	}

	os.WriteFile(path, []byte("short\nsk-cccccccccccccccccccc colour=red\nsk-dddddddddddddddddddd tenant=_sieve\nsk-eeeeeeeeeeeeeeeeeeee policy=a.b\n"), 0o600)
	_, err = LoadKeys(path)
	if !errors.Is(err, ErrBadKey) {
		t.Fatalf("got %v, want ErrBadKey", err)
	}
	for _, want := range []string{path + ":1: key: want at least 16", path + `:2: "colour=red"`, path + `:3: tenant "_sieve"`, path + `:4: policy "a.b"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	for _, secret := range []string{"short", "sk-ccc", "sk-ddd", "sk-eee"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error repeats a secret: %q", err)
		}
	}
}

// TestKeyFileWithoutKeys: a key file that is empty, or holds comments
// only, or is missing, is an error naming it: the door fails closed.
func TestKeyFileWithoutKeys(t *testing.T) {
	dir := t.TempDir()
	for name, data := range map[string]string{"empty": "", "comments": "# rotated out\n\n# all of them\n"} {
		path := filepath.Join(dir, name)
		os.WriteFile(path, []byte(data), 0o600)
		if _, err := LoadKeys(path); !errors.Is(err, ErrBadKey) || !strings.Contains(err.Error(), path+" holds no key") {
			t.Errorf("%s: %v, want ErrBadKey naming the file", name, err)
		}
	}
	if _, err := LoadKeys(filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing file: %v", err)
	}
}

func TestKeyring(t *testing.T) {
	r, err := newKeyring([]Key{{Secret: "sk-aaaaaaaaaaaaaaaaaaaa", Tenant: "acme"}, {Secret: "sk-bbbbbbbbbbbbbbbbbbbb", Policy: "soft"}})
	if err != nil {
		t.Fatal(err)
	}
	if k, ok := r.lookup("sk-bbbbbbbbbbbbbbbbbbbb"); !ok || k.policy != "soft" || k.idPrefix() != "http" {
		t.Fatalf("got %+v %v", k, ok)
	}
	if k, ok := r.lookup("sk-aaaaaaaaaaaaaaaaaaaa"); !ok || k.idPrefix() != "acme" {
		t.Fatalf("got %+v %v", k, ok)
	}
	for _, s := range []string{"", "sk-aaaaaaaaaaaaaaaaaaa", "sk-aaaaaaaaaaaaaaaaaaaaa"} {
		if _, ok := r.lookup(s); ok {
			t.Fatalf("%q matched", s)
		}
	}
	if _, err := newKeyring([]Key{{Secret: "sk-aaaaaaaaaaaaaaaaaaaa", Source: "a"}, {Secret: "sk-aaaaaaaaaaaaaaaaaaaa", Source: "b"}}); err == nil || !strings.Contains(err.Error(), "b: the same key as a") {
		t.Fatalf("duplicate keys: %v", err)
	}
}
