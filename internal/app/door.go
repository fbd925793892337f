package app

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strings"

	"github.com/sieve-project/sieve/internal/broker"
	"github.com/sieve-project/sieve/internal/config"
	"github.com/sieve-project/sieve/internal/gateway"
	"github.com/sieve-project/sieve/internal/policy"
)

// openDoor builds the HTTP door of cfg on conn and binds its address;
// the caller starts it once the rest is up. policies, when not nil,
// checks that each key's policy exists.
func openDoor(cfg config.Config, conn *broker.Conn, policies func(string) error, log *slog.Logger) (*gateway.Gateway, net.Listener, error) {
	keys, err := httpKeys(cfg, policies)
	if err != nil {
		return nil, nil, err
	}
	timeout := cfg.HTTP.Timeout.Duration
	if timeout == 0 {
		timeout = cfg.Queue.MaxTimeout.Duration
	}
	door, err := gateway.New(gateway.Config{Conn: conn, Model: modelName(cfg)},
		gateway.WithKeys(keys), gateway.WithTimeout(timeout), gateway.WithMaxBody(cfg.Queue.MaxPayload), gateway.WithLogger(log),
		gateway.WithTimeouts(gateway.Timeouts{Read: cfg.HTTP.ReadTimeout.Duration, Write: cfg.HTTP.WriteTimeout.Duration, Idle: cfg.HTTP.IdleTimeout.Duration}))
	if err != nil {
		return nil, nil, err
	}
	if len(keys) == 0 {
		log.Warn("the HTTP door is open to anyone who reaches it: no API keys are configured (http.api_keys, http.api_keys_file)", "listen", cfg.HTTP.Listen)
	}
	ln, err := net.Listen("tcp", cfg.HTTP.Listen)
	if err != nil {
		return nil, nil, fmt.Errorf("http.listen: %w", err)
	}
	return door, ln, nil
}

// CheckKeys loads cfg's API keys as Serve would, each key's policy
// checked against pols: what sieve config check says of them.
func CheckKeys(cfg config.Config, pols *policy.Registry) error {
	_, err := httpKeys(cfg, pols.Check)
	return err
}

// httpKeys gathers the keys of [[http.api_keys]] and http.api_keys_file.
func httpKeys(cfg config.Config, policies func(string) error) ([]gateway.Key, error) {
	var keys []gateway.Key
	for i, k := range cfg.HTTP.APIKeys {
		keys = append(keys, gateway.Key{Secret: k.Key, Policy: k.Policy, Tenant: k.Tenant, Source: fmt.Sprintf("%s: http.api_keys[%d]", cfg.File, i)})
	}
	if f := cfg.HTTP.APIKeysFile; f != "" {
		more, err := gateway.LoadKeys(cfg.Resolve(f))
		if err != nil {
			return nil, fmt.Errorf("http.api_keys_file: %w", err)
		}
		keys = append(keys, more...)
	}
	var errs []error
	for _, k := range keys {
		if k.Policy == "" || policies == nil {
			continue
		}
		if err := policies(k.Policy); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", k.Source, err))
		}
	}
	return keys, errors.Join(errs...)
}

// reloadKeys puts fresh's keys in force; bad ones keep the old keys, and
// so does a configuration without any: a reload never opens a door that
// had keys (a restart does, and says so).
func reloadKeys(fresh config.Config, door *gateway.Gateway, policies func(string) error, log *slog.Logger) {
	keys, err := httpKeys(fresh, policies)
	if err == nil && len(keys) == 0 && door.Keys() > 0 {
		err = errors.New("the configuration now has no API keys, which would open the door to anyone; restart sieve to serve without keys")
	}
	if err == nil {
		err = door.SetKeys(keys)
	}
	if err != nil {
		log.Error("key reload failed; the old keys stay in force", "err", err)
		return
	}
	log.Info("API keys reloaded", "keys", len(keys))
}

// modelName is the name the door serves the model under.
func modelName(cfg config.Config) string {
	switch {
	case cfg.HTTP.Model != "":
		return cfg.HTTP.Model
	case cfg.Model.Path != "":
		return strings.TrimSuffix(filepath.Base(cfg.Model.Path), ".gguf")
	}
	return "sieve"
}
