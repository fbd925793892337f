package worker_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sieve-project/sieve/internal/broker"
	"github.com/sieve-project/sieve/internal/config"
	"github.com/sieve-project/sieve/internal/pipeline"
	"github.com/sieve-project/sieve/internal/policy"
	"github.com/sieve-project/sieve/internal/worker"
	"github.com/sieve-project/sieve/job"
)

// leastPrivilegeServer runs a real server with the users of
// testdata/nats/least-privilege.conf.
func leastPrivilegeServer(t *testing.T) string {
	t.Helper()
	perms, err := os.ReadFile("../../testdata/nats/least-privilege.conf")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "server.conf")
	body := fmt.Sprintf("%s\nlisten: \"127.0.0.1:-1\"\njetstream { store_dir: %q }\n", perms, filepath.Join(dir, "js"))
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	o, err := server.ProcessConfigFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	o.NoLog, o.NoSigs = true, true
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

// connectAs connects as user with the inbox prefix of that role.
func connectAs(t *testing.T, url, user, inbox string) *broker.Conn {
	t.Helper()
	c, err := broker.Connect(context.Background(), config.NATS{URL: url, User: user, Password: user + "-secret", Prefix: "sieve", InboxPrefix: inbox, Replicas: 1},
		"", user, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// TestLeastPrivilege: with the documented permissions, a worker serves
// queued, request/reply and streamed request/reply jobs, and a tenant
// submits and reads its own; a tenant cannot take jobs, write results,
// or read another tenant's results or chunks; the worker cannot read
// other clients' inboxes.
func TestLeastPrivilege(t *testing.T) {
	url := leastPrivilegeServer(t)

	// The worker.
	wc := leastPrivilegeWorker(t, url)

	a := connectAs(t, url, "tenant-a", "_INBOX_tenant-a")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	// A queued job, streamed: its chunks and its result.
	var streamed strings.Builder
	res, err := a.Submit(ctx, "tenant-a.1", []byte(`{"messages":[{"role":"user","content":"hi"}]}`), func(c job.Chunk) { streamed.WriteString(c.Text) })
	if err != nil || res.Status != job.Completed || res.Text != "Oh ***." || streamed.String() != res.Text {
		t.Fatalf("queued job: %+v, streamed %q, %v", res, streamed.String(), err)
	}
	// Request/reply, plain and streamed: every chunk and the final result
	// reach the caller (allow_responses).
	msg, err := a.NC.Request("sieve.generate", []byte(`{"messages":[{"role":"user","content":"hi"}]}`), 10*time.Second)
	if err != nil || !strings.Contains(string(msg.Data), `"text":"Oh ***."`) {
		t.Fatalf("request/reply: %q %v", msgData(msg), err)
	}
	requestStreamed(t, a.NC)

	// What a tenant may not do, each refused by the server and named.
	denied := func(what string, err error, subject string) {
		t.Helper()
		if !errors.Is(err, broker.ErrPermission) || !strings.Contains(err.Error(), subject) {
			t.Errorf("%s: %v, want permission denied naming %s", what, err, subject)
		}
	}
	short := func() context.Context {
		c, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		t.Cleanup(cancel)
		return c
	}
	// Another tenant's id.
	_, err = a.Submit(short(), "tenant-b.1", []byte(`{"messages":[{"role":"user","content":"hi"}]}`), nil)
	denied("submit as tenant b", err, "sieve.jobs.tenant-b.1")
	// Taking jobs off the queue.
	jobs, err := a.JS.Consumer(short(), "SIEVE_JOBS", "SIEVE_WORKERS")
	if err == nil {
		_, err = jobs.Fetch(1, jetstream.FetchMaxWait(time.Second))
	}
	if err == nil {
		t.Error("a tenant could fetch from the workers' consumer")
	}
	// Writing a result.
	_, err = a.JS.Publish(short(), "sieve.results.tenant-a.2", []byte(`{"id":"tenant-a.2","status":"completed","text":"forged"}`))
	if err == nil {
		t.Error("a tenant could store a result")
	}
	// Reading another tenant's result or chunks.
	b := connectAs(t, url, "tenant-b", "_INBOX_tenant-b")
	if _, err := b.Submit(ctx, "tenant-b.7", []byte(`{"messages":[{"role":"user","content":"hi"}]}`), nil); err != nil {
		t.Fatal(err)
	}
	_, err = a.JS.OrderedConsumer(short(), "SIEVE_RESULTS", jetstream.OrderedConsumerConfig{FilterSubjects: []string{"sieve.results.tenant-b.7"}})
	if err == nil {
		t.Error("tenant a could read tenant b's results")
	}
	if m, err := a.NC.Request("$JS.API.DIRECT.GET.SIEVE_RESULTS.sieve.results.tenant-b.7", nil, 2*time.Second); err == nil {
		t.Errorf("tenant a read tenant b's stored result: %q", m.Data)
	}
	if err := subscribeDenied(a.NC, "sieve.results.tenant-b.>"); err != nil {
		t.Error(err)
	}
	// Its own stored result, read again by id: no consumer needed.
	if again, err := a.Submit(ctx, "tenant-a.1", []byte(`{"messages":[{"role":"user","content":"hi"}]}`), nil); err != nil || again.Text != res.Text {
		t.Errorf("tenant a reading its stored result: %+v %v", again, err)
	}
	if err := subscribeDenied(a.NC, "sieve.stream.tenant-b.>"); err != nil {
		t.Error(err)
	}

	// The worker reads its own inbox, not everyone's.
	if err := subscribeDenied(wc.NC, "_INBOX.>"); err != nil {
		t.Error(err)
	}

	// The reader reads every result, and writes nothing.
	r := connectAs(t, url, "reader", "_INBOX_reader")
	rc, err := r.JS.OrderedConsumer(ctx, "SIEVE_RESULTS", jetstream.OrderedConsumerConfig{FilterSubjects: []string{"sieve.results.tenant-b.7"}})
	if err != nil {
		t.Fatal(err)
	}
	if m, err := rc.Next(jetstream.FetchMaxWait(5 * time.Second)); err != nil || !strings.Contains(string(m.Data()), `"status":"completed"`) {
		t.Fatalf("reader: %v", err)
	}
	if _, err := r.JS.Publish(short(), "sieve.jobs.tenant-a.9", []byte(`{}`)); err == nil {
		t.Error("the reader could publish a job")
	}
}

// leastPrivilegeWorker connects to url as the worker user and starts a
// worker there, two slots on a scripted model, greedy. It returns the
// worker's connection.
func leastPrivilegeWorker(t *testing.T, url string) *broker.Conn {
	t.Helper()
	c := connectAs(t, url, "worker", "_INBOX_worker")
	cfg := config.Default()
	cfg.Generate.Temperature = new(float64) // greedy
	cons, err := c.Setup(context.Background(), cfg.Queue, 1)
	if err != nil {
		t.Fatal(err)
	}
	eng, flt := scriptedEngine(t, []string{"Oh", " dar", "n", "."})
	w, err := worker.Start(context.Background(), worker.Config{
		Conn: c, Consumer: cons, Queue: cfg.Queue, Parallel: 2, Name: "worker", Version: "0.0.0",
		Runner: &pipeline.Runner{Engine: eng, Policies: policy.Static(flt), Defaults: cfg.Generate, Limits: pipeline.Limits(cfg.Generate, cfg.Queue)},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		w.Shutdown(ctx)
	})
	return c
}

// requestStreamed sends a streamed request/reply job on nc and wants every
// chunk and the final result back.
func requestStreamed(t *testing.T, nc *nats.Conn) {
	t.Helper()
	inbox := nc.NewRespInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		t.Fatal(err)
	}
	req := nats.NewMsg("sieve.generate")
	req.Reply, req.Data = inbox, []byte(`{"messages":[{"role":"user","content":"hi"}]}`)
	req.Header.Set(worker.HeaderStream, "true")
	if err := nc.PublishMsg(req); err != nil {
		t.Fatal(err)
	}
	var chunks strings.Builder
	for {
		m, err := sub.NextMsg(10 * time.Second)
		if err != nil {
			t.Fatalf("streamed request/reply: after %q: %v", chunks.String(), err)
		}
		if m.Header.Get(worker.HeaderFinal) == "true" {
			var r job.Result
			if json.Unmarshal(m.Data, &r) != nil || r.Text != chunks.String() || r.Text != "Oh ***." {
				t.Fatalf("streamed final %q after %q", m.Data, chunks.String())
			}
			break
		}
		var c job.Chunk
		json.Unmarshal(m.Data, &c)
		chunks.WriteString(c.Text)
	}
}

func msgData(m *nats.Msg) string {
	if m == nil {
		return ""
	}
	return string(m.Data)
}

// subscribeDenied reports whether the server refuses nc a subscription to
// subject: it says so asynchronously.
func subscribeDenied(nc *nats.Conn, subject string) error {
	got := make(chan error, 1)
	nc.SetErrorHandler(func(_ *nats.Conn, s *nats.Subscription, err error) {
		if errors.Is(err, nats.ErrPermissionViolation) && strings.Contains(err.Error(), subject) {
			select {
			case got <- err:
			default:
			}
		}
	})
	sub, err := nc.SubscribeSync(subject)
	if err != nil {
		return err
	}
	defer sub.Unsubscribe()
	nc.Flush()
	select {
	case <-got:
		return nil
	case <-time.After(5 * time.Second):
		return fmt.Errorf("subscribing to %s was not refused", subject)
	}
}
