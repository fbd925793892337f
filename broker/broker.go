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
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sieve-project/sieve/config"
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
func (s Subjects) Consumer() string        { return s.streamBase() + "_WORKERS" }
func (s Subjects) IDFromSubject(subj string) string {
	return strings.TrimPrefix(subj, s.Prefix+".jobs.")
}
func (s Subjects) IDFromCancel(subj string) string {
	return strings.TrimPrefix(subj, s.Prefix+".cancel.")
}

// streamBase is "SIEVE" for the default prefix, so the streams are named
// as DESIGN.md says; other prefixes get their own streams.
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
}

// ErrEmbedded wraps a failure to start the embedded server.
var ErrEmbedded = errors.New("embedded NATS server")

// Connect starts the embedded server when c.URL is empty, then connects.
// name identifies the client in the server's monitoring.
func Connect(ctx context.Context, c config.NATS, dataDir string, name string, log *slog.Logger) (*Conn, error) {
	conn := &Conn{Subjects: Subjects{Prefix: c.Prefix}, log: log}
	url := c.URL
	if url == "" {
		ns, err := startEmbedded(c.Listen, dataDir, log)
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
		// Keep trying at start too: a worker started before its cluster
		// should wait for it, not exit.
		opts = append(opts, nats.RetryOnFailedConnect(true))
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
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("connect to NATS at %s: %w", url, err)
	}
	conn.NC = nc
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

func startEmbedded(listen, dataDir string, log *slog.Logger) (*server.Server, error) {
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
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		return nil, fmt.Errorf("%w: not ready after 10s (is %s already in use?)", ErrEmbedded, listen)
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

// Setup creates or updates the streams and the shared durable consumer.
// It is idempotent: every worker runs it at start.
func (c *Conn) Setup(ctx context.Context, q config.Queue) (jetstream.Consumer, error) {
	s := c.Subjects
	if _, err := c.JS.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        s.JobsStream(),
		Description: "sieve jobs (work queue)",
		Subjects:    []string{s.Jobs()},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
		Duplicates:  2 * time.Minute,
		MaxMsgSize:  int32(q.MaxPayload) + 4096, // larger ones are refused by the server, before they are jobs
		// One job per id in the queue: while a job waits or runs, the
		// server refuses another published under its id, so no id runs
		// twice at once, on any worker.
		MaxMsgsPerSubject:    1,
		Discard:              jetstream.DiscardNew,
		DiscardNewPerSubject: true,
	}); err != nil {
		return nil, fmt.Errorf("stream %s: %w", s.JobsStream(), err)
	}
	if _, err := c.JS.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        s.ResultsStream(),
		Description: "sieve final results",
		Subjects:    []string{s.Results()},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		MaxAge:      q.ResultsMaxAge.Duration,
		Duplicates:  2 * time.Minute,
	}); err != nil {
		return nil, fmt.Errorf("stream %s: %w", s.ResultsStream(), err)
	}
	cons, err := c.JS.CreateOrUpdateConsumer(ctx, s.JobsStream(), jetstream.ConsumerConfig{
		Durable:       s.Consumer(),
		Description:   "sieve workers",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       q.AckWait.Duration,
		MaxDeliver:    q.MaxDeliver,
		MaxAckPending: -1,
	})
	if err != nil {
		return nil, fmt.Errorf("consumer %s: %w", s.Consumer(), err)
	}
	return cons, nil
}

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
	if l.Consumer, err = conn.Setup(ctx, q); err != nil {
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
