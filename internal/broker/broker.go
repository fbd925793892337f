// Package broker connects sieve to NATS: it starts the embedded server when
// no URL is configured, connects with the configured credentials and
// reconnects forever, names the subjects, and creates the JetStream streams
// and the shared durable consumer idempotently.
//
// It does not run jobs; package worker does.
package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sieve-project/sieve/internal/config"
)

// Subjects names every subject and stream under one prefix. A job id may
// span several tokens (tenant-a.42), so the subjects that end in an id
// are matched with ">".
type Subjects struct{ Prefix string }

func (s Subjects) Jobs() string            { return s.Prefix + ".jobs.>" }
func (s Subjects) Job(id string) string    { return s.Prefix + ".jobs." + id }
func (s Subjects) Generate() string        { return s.Prefix + ".generate" }
func (s Subjects) Check() string           { return s.Prefix + ".check" }
func (s Subjects) Stream(id string) string { return s.Prefix + ".stream." + id }
func (s Subjects) Results() string         { return s.Prefix + ".results.>" }
func (s Subjects) Result(id string) string { return s.Prefix + ".results." + id }
func (s Subjects) CancelAll() string       { return s.Prefix + ".cancel.>" }
func (s Subjects) StreamAll() string       { return s.Prefix + ".stream.>" }
func (s Subjects) Cancel(id string) string { return s.Prefix + ".cancel." + id }
func (s Subjects) JobsStream() string      { return s.streamBase() + "_JOBS" }
func (s Subjects) ResultsStream() string   { return s.streamBase() + "_RESULTS" }
func (s Subjects) CancelsStream() string   { return s.streamBase() + "_CANCELS" }
func (s Subjects) Consumer() string        { return s.streamBase() + "_WORKERS" }
func (s Subjects) IDFromSubject(subj string) string {
	return strings.TrimPrefix(subj, s.Prefix+".jobs.")
}
func (s Subjects) IDFromCancel(subj string) string {
	return strings.TrimPrefix(subj, s.Prefix+".cancel.")
}

// streamBase is "SIEVE" for the default prefix, so the streams are named
// as docs/design.md says; other prefixes get their own streams.
func (s Subjects) streamBase() string {
	return strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(s.Prefix))
}

// Conn is a connection to NATS, and the embedded server when sieve runs
// one.
type Conn struct {
	NC       *nats.Conn
	JS       jetstream.JetStream
	Subjects Subjects
	embedded *server.Server
	log      *slog.Logger
	perm     atomic.Pointer[permDenied] // the last permissions violation (errors.go)
}

// ErrEmbedded wraps a failure to start the embedded server.
var ErrEmbedded = errors.New("embedded NATS server")

// Connect starts the embedded server when c.URL is empty, then connects.
// name identifies the client in the server's monitoring.
//
// ctx bounds the start: once it ends, Connect stops and returns its error
// (a connection that keeps trying in the background, for a server that is
// not up yet, is returned before then).
func Connect(ctx context.Context, c config.NATS, dataDir string, name string, log *slog.Logger) (*Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	conn := &Conn{Subjects: Subjects{Prefix: c.Prefix}, log: log}
	url := c.URL
	if url == "" {
		ns, err := startEmbedded(ctx, c.Listen, dataDir, log)
		if err != nil {
			return nil, err
		}
		conn.embedded = ns
		url = ns.ClientURL()
	}
	opts := []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.ReconnectJitter(500*time.Millisecond, time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil { // nil: we closed it ourselves
				log.Warn("nats disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("nats reconnected", "url", nc.ConnectedUrlRedacted())
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			conn.notePermission(err)
			subj := ""
			if sub != nil {
				subj = sub.Subject
			}
			log.Error("nats async error", "subject", subj, "err", err)
		}),
	}
	if c.URL != "" {
		auth, err := authOptions(c)
		if err != nil {
			conn.Close()
			return nil, err
		}
		opts = append(opts, auth...)
	}
	if c.InboxPrefix != "" {
		opts = append(opts, nats.CustomInboxPrefix(c.InboxPrefix))
	}
	if conn.embedded != nil {
		// Our own connection to our own server skips the loopback TCP
		// stack and the netpoller: each chunk reaches the server with a
		// goroutine handoff, which on a machine whose cores all decode
		// costs decoding less and arrives sooner (BENCHMARKS.md). Other
		// clients connect over TCP as before.
		opts = append(opts, nats.InProcessServer(conn.embedded))
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil && c.URL != "" {
		if d := diagnose(err, c); d != nil {
			// Credentials and TLS that are wrong do not come right by
			// waiting: say what to fix, now.
			conn.Close()
			return nil, fmt.Errorf("connect to NATS at %s: %w", config.RedactURL(url), d)
		}
		// No server there yet: keep trying, as a worker started before
		// its cluster must.
		nc, err = nats.Connect(url, append(opts, nats.RetryOnFailedConnect(true))...)
	}
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("connect to NATS at %s: %w", config.RedactURL(url), err)
	}
	conn.NC = nc
	if err := ctx.Err(); err != nil {
		conn.Close()
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	conn.JS = js
	return conn, nil
}

func authOptions(c config.NATS) ([]nats.Option, error) {
	var opts []nats.Option
	switch {
	case c.User != "":
		opts = append(opts, nats.UserInfo(c.User, c.Password))
	case c.Token != "":
		opts = append(opts, nats.Token(c.Token))
	case c.NkeySeedFile != "":
		o, err := nats.NkeyOptionFromSeed(c.NkeySeedFile)
		if err != nil {
			return nil, fmt.Errorf("nats.nkey_seed_file: %w", err)
		}
		opts = append(opts, o)
	case c.CredsFile != "":
		opts = append(opts, nats.UserCredentials(c.CredsFile))
	}
	if c.TLSCA != "" {
		opts = append(opts, nats.RootCAs(c.TLSCA))
	}
	if c.TLSCert != "" {
		opts = append(opts, nats.ClientCert(c.TLSCert, c.TLSKey))
	}
	return opts, nil
}

func startEmbedded(ctx context.Context, listen, dataDir string, log *slog.Logger) (*server.Server, error) {
	host, portStr, err := net.SplitHostPort(listen)
	if err != nil {
		return nil, fmt.Errorf("%w: listen %q: %v", ErrEmbedded, listen, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("%w: listen %q: bad port", ErrEmbedded, listen)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	ns, err := server.NewServer(&server.Options{
		ServerName: "sieve-embedded",
		Host:       host,
		Port:       port,
		JetStream:  true,
		StoreDir:   dataDir,
		NoSigs:     true, // sieve handles signals itself
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrEmbedded, err)
	}
	go ns.Start()
	for ready := time.Now().Add(10 * time.Second); !ns.ReadyForConnections(100 * time.Millisecond); {
		switch {
		case ctx.Err() != nil:
			ns.Shutdown()
			return nil, ctx.Err()
		case time.Now().After(ready):
			ns.Shutdown()
			return nil, fmt.Errorf("%w: not ready after 10s (is %s already in use?)", ErrEmbedded, listen)
		}
	}
	log.Info("embedded NATS server started", "url", ns.ClientURL(), "store", dataDir)
	return ns, nil
}

// ClientURL is the URL of the embedded server, or "" when sieve joined an
// external one.
func (c *Conn) ClientURL() string {
	if c.embedded == nil {
		return ""
	}
	return c.embedded.ClientURL()
}

// Close drains the connection and stops the embedded server; it waits for
// both.
func (c *Conn) Close() {
	if c.NC != nil {
		if err := c.NC.Drain(); err != nil {
			c.NC.Close()
		}
		for c.NC.IsDraining() {
			time.Sleep(10 * time.Millisecond)
		}
	}
	if c.embedded != nil {
		c.embedded.Shutdown()
		c.embedded.WaitForShutdown()
	}
}

// Setup makes sure the streams and the shared durable consumer exist. It
// creates what is missing, with replicas copies of each stream. An
// existing stream is left as it is, since an operator may have tuned it
// (replicas, limits, placement), except that sieve refuses to start,
// naming the setting, where the stream cannot serve it: retention,
// subjects, and on the jobs stream one message per subject (the job
// contract's one job per id). Other differences are logged. The consumer
// takes queue.ack_wait from the configuration and delivers without limit
// (the workers enforce queue.max_deliver). It is idempotent: every worker
// runs it at start.
func (c *Conn) Setup(ctx context.Context, q config.Queue, replicas int) (jetstream.Consumer, error) {
	s := c.Subjects
	replicas = max(replicas, 1)
	for _, st := range []streamSpec{jobsStream(s, q, replicas), resultsStream(s, q, replicas), cancelsStream(s, q, replicas)} {
		if err := c.ensureStream(ctx, st.want, st.problems); err != nil {
			return nil, err
		}
		// Callers and workers read these by subject (directGet): an
		// existing stream must allow it too.
		if st.want.AllowDirect {
			if err := c.allowDirect(ctx, st.want.Name); err != nil {
				return nil, err
			}
		}
	}
	return c.ensureConsumer(ctx, q)
}

// streamSpec is one of the streams Setup makes sure of: the configuration
// sieve creates it with, and what an existing one lacks that sieve
// needs beyond want's subjects (nothing, when it will do; ensureStream
// checks the subjects of every stream).
type streamSpec struct {
	want     jetstream.StreamConfig
	problems func(have jetstream.StreamConfig) []string
}

// jobsStream is the work queue. It holds one job per id, so that no id
// runs twice at once; an existing stream must do the same.
func jobsStream(s Subjects, q config.Queue, replicas int) streamSpec {
	want := jetstream.StreamConfig{
		Name:        s.JobsStream(),
		Description: "sieve jobs (work queue)",
		Subjects:    []string{s.Jobs()},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    replicas,
		Duplicates:  2 * time.Minute,
		MaxMsgSize:  int32(q.MaxPayload) + 4096, // larger ones are refused by the server, before they are jobs
		// One job per id in the queue: while a job waits or runs, the
		// server refuses another published under its id, so no id runs
		// twice at once, on any worker.
		MaxMsgsPerSubject:    1,
		Discard:              jetstream.DiscardNew,
		DiscardNewPerSubject: true,
	}
	return streamSpec{want: want, problems: func(have jetstream.StreamConfig) []string {
		var bad []string
		if have.Retention != jetstream.WorkQueuePolicy {
			bad = append(bad, fmt.Sprintf("retention is %s; sieve needs %s", have.Retention, jetstream.WorkQueuePolicy))
		}
		if have.MaxMsgsPerSubject != 1 || have.Discard != jetstream.DiscardNew || !have.DiscardNewPerSubject {
			bad = append(bad, fmt.Sprintf("max_msgs_per_subject %d, discard %s, discard_new_per_subject %v; sieve needs 1, new, true, so that one job per id waits or runs (nats stream edit %s --max-msgs-per-subject 1 --discard new --discard-per-subject)",
				have.MaxMsgsPerSubject, have.Discard, have.DiscardNewPerSubject, have.Name))
		}
		return bad
	}}
}

// resultsStream keeps the final results for queue.results_max_age, for
// callers that come for them late; an existing stream must keep them
// too.
func resultsStream(s Subjects, q config.Queue, replicas int) streamSpec {
	want := jetstream.StreamConfig{
		Name:        s.ResultsStream(),
		Description: "sieve final results",
		Subjects:    []string{s.Results()},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    replicas,
		MaxAge:      q.ResultsMaxAge.Duration,
		// JetStream wants the window within the age.
		Duplicates: min(2*time.Minute, q.ResultsMaxAge.Duration),
		// Callers read a stored result by its subject (Submit), which
		// permissions can grant per tenant.
		AllowDirect: true,
	}
	return streamSpec{want: want, problems: func(have jetstream.StreamConfig) []string {
		var bad []string
		if have.Retention != jetstream.LimitsPolicy {
			bad = append(bad, fmt.Sprintf("retention is %s; sieve needs %s, so results stay for late callers", have.Retention, jetstream.LimitsPolicy))
		}
		return bad
	}}
}

// cancelsStream keeps cancel requests as long as a queued job may wait,
// so a worker that takes the job later, even one started after the
// cancel, honours it (Conn.Cancelled).
func cancelsStream(s Subjects, q config.Queue, replicas int) streamSpec {
	want := jetstream.StreamConfig{
		Name:              s.CancelsStream(),
		Description:       "sieve cancel requests, for jobs a worker takes later",
		Subjects:          []string{s.CancelAll()},
		Retention:         jetstream.LimitsPolicy,
		Storage:           jetstream.FileStorage,
		Replicas:          replicas,
		MaxAge:            q.MaxTimeout.Duration,
		MaxMsgsPerSubject: 1,
		Duplicates:        min(2*time.Minute, q.MaxTimeout.Duration),
		AllowDirect:       true,
	}
	return streamSpec{want: want, problems: func(jetstream.StreamConfig) []string { return nil }}
}

// ensureConsumer creates or updates the workers' shared durable
// consumer on the jobs stream.
func (c *Conn) ensureConsumer(ctx context.Context, q config.Queue) (jetstream.Consumer, error) {
	s := c.Subjects
	cons, err := c.JS.CreateOrUpdateConsumer(ctx, s.JobsStream(), jetstream.ConsumerConfig{
		Durable:     s.Consumer(),
		Description: "sieve workers",
		AckPolicy:   jetstream.AckExplicitPolicy,
		AckWait:     q.AckWait.Duration,
		// Unlimited: the workers count deliveries against
		// queue.max_deliver and store a failed result at the limit, so
		// a job never runs out of deliveries without a result (a worker
		// that crashed with its last one would leave the id answering
		// nothing).
		MaxDeliver:    -1,
		MaxAckPending: -1,
	})
	if err != nil {
		return nil, fmt.Errorf("consumer %s: %w", s.Consumer(), c.explain(err))
	}
	return cons, nil
}

// ensureStream creates want if no stream has its name. Otherwise it keeps
// the stream as it is: refuses it when problems finds any, and logs where
// it differs from want in what sieve would have chosen.
func (c *Conn) ensureStream(ctx context.Context, want jetstream.StreamConfig, problems func(jetstream.StreamConfig) []string) error {
	st, err := c.JS.Stream(ctx, want.Name)
	giveUp := time.Now().Add(time.Minute)
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, 5*time.Second) {
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			_, err = c.JS.CreateStream(ctx, want)
			if err == nil || errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
				c.log.Info("stream created", "stream", want.Name, "replicas", want.Replicas)
				return nil
			}
		}
		if !clusterStarting(err) || time.Now().After(giveUp) {
			break
		}
		// A cluster that is still forming: peers not yet known, no
		// leader yet. A worker started with its cluster waits for it, a
		// minute at most.
		c.log.Warn("JetStream not ready; retrying", "stream", want.Name, "err", err, "in", wait)
		select {
		case <-ctx.Done():
			return fmt.Errorf("stream %s: %w", want.Name, c.explain(err))
		case <-time.After(wait):
		}
		st, err = c.JS.Stream(ctx, want.Name)
	}
	if err != nil {
		return fmt.Errorf("stream %s: %w", want.Name, c.explain(err))
	}
	have := st.CachedInfo().Config
	var bad []string
	for _, sub := range want.Subjects {
		if !slices.Contains(have.Subjects, sub) {
			bad = append(bad, fmt.Sprintf("subjects are %q; sieve needs %q among them", have.Subjects, sub))
		}
	}
	if bad = append(bad, problems(have)...); len(bad) > 0 {
		return fmt.Errorf("%w: stream %s: %s", ErrStream, want.Name, strings.Join(bad, "; "))
	}
	for _, d := range []struct {
		key        string
		have, want any
	}{
		{"replicas", have.Replicas, want.Replicas},
		{"storage", have.Storage, want.Storage},
		{"max_age", have.MaxAge, want.MaxAge},
		{"max_msg_size", have.MaxMsgSize, want.MaxMsgSize},
		{"duplicate_window", have.Duplicates, want.Duplicates},
	} {
		if d.have != d.want {
			c.log.Info("stream setting left as found", "stream", want.Name, "setting", d.key, "found", d.have, "sieve_default", d.want)
		}
	}
	return nil
}

// allowDirect turns on direct gets on stream name where an older sieve
// (or an operator) created it without them: callers read stored results,
// and workers cancels, by subject. Where the update is refused, sieve
// does not start, and says how to do it by hand.
func (c *Conn) allowDirect(ctx context.Context, name string) error {
	st, err := c.JS.Stream(ctx, name)
	if err != nil {
		return fmt.Errorf("stream %s: %w", name, c.explain(err))
	}
	cfg := st.CachedInfo().Config
	if cfg.AllowDirect {
		return nil
	}
	cfg.AllowDirect = true
	if _, err := c.JS.UpdateStream(ctx, cfg); err != nil {
		return fmt.Errorf("%w: stream %s: allow_direct is off, and sieve reads stored results by subject with it; turning it on failed (%v): run nats stream edit %s --allow-direct",
			ErrStream, name, c.explain(err), name)
	}
	c.log.Info("stream setting changed", "stream", name, "setting", "allow_direct", "to", true)
	return nil
}

// clusterStarting reports whether err is JetStream saying it is not ready
// yet: no peers for the replicas, the system unavailable, no answer.
func clusterStarting(err error) bool {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode {
		case 10004, 10005, 10008: // cluster incomplete, no suitable peers, temporarily unavailable
			return true
		}
	}
	return errors.Is(err, nats.ErrTimeout) || errors.Is(err, jetstream.ErrJetStreamNotEnabled) || errors.Is(err, nats.ErrNoResponders)
}

// ErrStream wraps an existing stream sieve cannot work with.
var ErrStream = errors.New("unusable stream")

// Local is a private embedded server on a free loopback port with its
// store in a temporary folder, for commands that run their own worker
// (demo, batch, bench). Close stops it and removes the store.
type Local struct {
	*Conn
	Consumer jetstream.Consumer
	store    string
}

// StartLocal starts a Local server and sets up the streams and consumer.
func StartLocal(ctx context.Context, c config.NATS, q config.Queue, name string, log *slog.Logger) (*Local, error) {
	store, err := os.MkdirTemp("", "sieve-local-store")
	if err != nil {
		return nil, err
	}
	c.URL, c.Listen = "", "127.0.0.1:0"
	conn, err := Connect(ctx, c, store, name, log)
	if err != nil {
		os.RemoveAll(store)
		return nil, err
	}
	l := &Local{Conn: conn, store: store}
	if l.Consumer, err = conn.Setup(ctx, q, 1); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

// Close stops the server and removes its store.
func (l *Local) Close() {
	l.Conn.Close()
	os.RemoveAll(l.store)
}
