package broker

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sieve-project/sieve/internal/config"
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

// TestSetupKeepsWhatOperatorsSet: Setup creates what is missing, leaves an
// existing stream's tuning as it finds it, and refuses a stream it cannot
// work with, naming the setting.
func TestSetupKeepsWhatOperatorsSet(t *testing.T) {
	url := external(t, &server.Options{})
	c, err := Connect(context.Background(), config.NATS{URL: url, Prefix: "sieve"}, "", "test", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	q := config.Default().Queue
	if _, err := c.Setup(ctx, q, 1); err != nil {
		t.Fatal(err)
	}
	// An operator tunes the results stream.
	st, err := c.JS.Stream(ctx, "SIEVE_RESULTS")
	if err != nil {
		t.Fatal(err)
	}
	tuned := st.CachedInfo().Config
	tuned.MaxAge = 72 * time.Hour
	tuned.MaxBytes = 1 << 30
	if _, err := c.JS.UpdateStream(ctx, tuned); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Setup(ctx, q, 1); err != nil {
		t.Fatalf("setup over a tuned stream: %v", err)
	}
	st, _ = c.JS.Stream(ctx, "SIEVE_RESULTS")
	if got := st.CachedInfo().Config; got.MaxAge != 72*time.Hour || got.MaxBytes != 1<<30 {
		t.Fatalf("setup rewrote the operator's settings: max_age %v max_bytes %d", got.MaxAge, got.MaxBytes)
	}

	// Streams sieve cannot work with.
	for _, tt := range []struct {
		name string
		cfg  jetstream.StreamConfig
		says string
	}{
		{"jobs that are not a work queue", jetstream.StreamConfig{Name: "T1_JOBS", Subjects: []string{"t1.jobs.>"}, Retention: jetstream.LimitsPolicy,
			MaxMsgsPerSubject: 1, Discard: jetstream.DiscardNew, DiscardNewPerSubject: true}, "retention is Limits; sieve needs WorkQueue"},
		{"jobs without one per id", jetstream.StreamConfig{Name: "T2_JOBS", Subjects: []string{"t2.jobs.>"}, Retention: jetstream.WorkQueuePolicy}, "max_msgs_per_subject"},
		{"jobs on other subjects", jetstream.StreamConfig{Name: "T3_JOBS", Subjects: []string{"elsewhere.>"}, Retention: jetstream.WorkQueuePolicy,
			MaxMsgsPerSubject: 1, Discard: jetstream.DiscardNew, DiscardNewPerSubject: true}, `"t3.jobs.>"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := c.JS.CreateStream(ctx, tt.cfg); err != nil {
				t.Fatal(err)
			}
			prefix := strings.ToLower(strings.TrimSuffix(tt.cfg.Name, "_JOBS"))
			other := &Conn{NC: c.NC, JS: c.JS, Subjects: Subjects{Prefix: prefix}, log: c.log}
			_, err := other.Setup(ctx, q, 1)
			if !errors.Is(err, ErrStream) || !strings.Contains(err.Error(), tt.says) || !strings.Contains(err.Error(), tt.cfg.Name) {
				t.Fatalf("err %v, want the stream and %q named", err, tt.says)
			}
		})
	}
}

// Connect keeps to its context: an ended one stops it before it starts
// a server or connects.
func TestConnectKeepsToItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c := config.Default().NATS
	c.Listen = "127.0.0.1:0"
	start := time.Now()
	conn, err := Connect(ctx, c, t.TempDir(), "t", slog.New(slog.DiscardHandler))
	if !errors.Is(err, context.Canceled) || conn != nil {
		t.Fatalf("got %v, %v; want context.Canceled", conn, err)
	}
	// Against a server that is not there, with a deadline: the error is
	// the deadline's, not a connection that retries for ever.
	c.URL = "nats://127.0.0.1:1"
	ctx, cancel = context.WithTimeout(context.Background(), time.Nanosecond)
	defer cancel()
	time.Sleep(time.Millisecond)
	if _, err := Connect(ctx, c, "", "t", slog.New(slog.DiscardHandler)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want the deadline", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("Connect took its time after its context ended")
	}
}

// TestResultsMaxAgeBelowTheDuplicateWindow: every results_max_age the
// configuration accepts (1m and up) starts, though JetStream wants the
// duplicate window within the stream's age; and the workers' consumer
// delivers without limit, as the workers count deliveries themselves.
func TestResultsMaxAgeBelowTheDuplicateWindow(t *testing.T) {
	for _, age := range []time.Duration{time.Minute, 90 * time.Second, 2 * time.Minute, time.Hour} {
		q := config.Default().Queue
		q.ResultsMaxAge.Duration = age
		l, err := StartLocal(context.Background(), config.Default().NATS, q, "test", slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatalf("results_max_age %s: %v", age, err)
		}
		info, err := l.Consumer.Info(context.Background())
		l.Close()
		if err != nil || info.Config.MaxDeliver != -1 {
			t.Fatalf("consumer %+v, %v: want unlimited deliveries", info, err)
		}
	}
}
