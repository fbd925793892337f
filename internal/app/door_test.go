package app

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/sieve-project/sieve/internal/broker"
	"github.com/sieve-project/sieve/internal/config"
	"github.com/sieve-project/sieve/internal/gateway"
)

// TestReloadNeverOpensTheDoor: a SIGHUP whose configuration has no keys
// any more leaves the keys in force; only a restart opens the door.
func TestReloadNeverOpensTheDoor(t *testing.T) {
	l, err := broker.StartLocal(context.Background(), config.Default().NATS, config.Default().Queue, "test", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	cfg := config.Default()
	cfg.HTTP.APIKeys = []config.APIKey{{Key: "sk-0123456789abcdef"}}
	door, err := gateway.New(gateway.Config{Conn: l.Conn, Model: "m"}, gateway.WithKeys([]gateway.Key{{Secret: "sk-0123456789abcdef"}}))
	if err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	log := slog.New(slog.NewTextHandler(&logs, nil))
	reloadKeys(config.Default(), door, nil, log)
	if door.Keys() != 1 || !strings.Contains(logs.String(), "would open the door") {
		t.Fatalf("%d keys after a reload without any; logs %q", door.Keys(), logs.String())
	}
	cfg.HTTP.APIKeys = append(cfg.HTTP.APIKeys, config.APIKey{Key: "sk-fedcba9876543210"})
	reloadKeys(cfg, door, nil, log)
	if door.Keys() != 2 {
		t.Fatalf("%d keys after a reload with two", door.Keys())
	}
}
