package broker

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/sieve-project/sieve/config"
)

func external(t *testing.T, o *server.Options) string {
	t.Helper()
	o.Host, o.Port, o.NoLog, o.NoSigs = "127.0.0.1", -1, true, true
	o.JetStream, o.StoreDir = true, t.TempDir()
	ns, err := server.NewServer(o)
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("server not ready")
	}
	t.Cleanup(ns.Shutdown)
	return ns.ClientURL()
}

func TestConnectWithCredentials(t *testing.T) {
	userURL := external(t, &server.Options{Username: "sieve", Password: "s3cret"})
	tokenURL := external(t, &server.Options{Authorization: "t0ken"})
	log := slog.New(slog.DiscardHandler)
	tests := []struct {
		name string
		cfg  config.NATS
		ok   bool
	}{
		{"user and password", config.NATS{URL: userURL, User: "sieve", Password: "s3cret"}, true},
		{"wrong password", config.NATS{URL: userURL, User: "sieve", Password: "nope"}, false},
		{"token", config.NATS{URL: tokenURL, Token: "t0ken"}, true},
		{"no token", config.NATS{URL: tokenURL}, false},
		{"missing nkey file", config.NATS{URL: tokenURL, NkeySeedFile: "/nonexistent/seed.nk"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Prefix = "sieve"
			c, err := Connect(context.Background(), tt.cfg, "", "test", log)
			if err == nil {
				defer c.Close()
				// RetryOnFailedConnect keeps trying after a refusal; a
				// refused client never gets connected.
				for i := 0; i < 50 && !c.NC.IsConnected(); i++ {
					time.Sleep(20 * time.Millisecond)
				}
			}
			connected := err == nil && c.NC.IsConnected()
			if connected != tt.ok {
				t.Fatalf("connected %v (err %v), want %v", connected, err, tt.ok)
			}
			if connected {
				if _, err := c.Setup(context.Background(), config.Default().Queue, 1); err != nil {
					t.Fatal(err)
				}
				// Setup is idempotent: every worker runs it.
				if _, err := c.Setup(context.Background(), config.Default().Queue, 1); err != nil {
					t.Fatalf("second setup: %v", err)
				}
			}
		})
	}
}

func TestSubjects(t *testing.T) {
	s := Subjects{Prefix: "team.sieve"}
	if s.JobsStream() != "TEAM_SIEVE_JOBS" || s.Result("a1") != "team.sieve.results.a1" || s.IDFromSubject("team.sieve.jobs.x.y") != "x.y" {
		t.Fatalf("subjects: %s %s", s.JobsStream(), s.Result("a1"))
	}
	if (Subjects{Prefix: "sieve"}).JobsStream() != "SIEVE_JOBS" {
		t.Fatal("default prefix must give SIEVE_JOBS")
	}
	if id := s.IDFromSubject(s.Job("tenant-a.42")); id != "tenant-a.42" {
		t.Fatalf("IDFromSubject gave %q", id)
	}
	if id := s.IDFromCancel(s.Cancel("tenant-a.42")); id != "tenant-a.42" {
		t.Fatalf("IDFromCancel gave %q", id)
	}
}
