package gateway

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sieve-project/sieve/internal/broker"
	"github.com/sieve-project/sieve/job"
)

// Config is what a gateway needs.
type Config struct {
	Conn  *broker.Conn // where the jobs go; workers must be set up on it
	Model string       // the name clients give as "model"
}

// Option sets what a gateway may be given.
type Option func(*Gateway) error

// WithKeys makes every /v1 request present one of keys as a bearer token.
// Without it, or with no keys, the door is open.
func WithKeys(keys []Key) Option {
	return func(g *Gateway) error { return g.SetKeys(keys) }
}

// WithTimeout sets the deadline of a job whose request sends no timeout
// header (default 10 minutes). Workers cut deadlines to their
// queue.max_timeout.
func WithTimeout(d time.Duration) Option {
	return func(g *Gateway) error {
		if d < time.Second {
			return fmt.Errorf("gateway: timeout %s: want at least 1s", d)
		}
		g.timeout = d
		return nil
	}
}

// Timeouts bound what slow clients may hold: Read a request's headers
// and body, Write each write of a reply (a client that reads nothing for
// that long is cut off and its job cancelled), Idle a kept-alive
// connection between requests. Read and Idle apply where Start serves.
type Timeouts struct {
	Read, Write, Idle time.Duration
}

// WithTimeouts sets the slow-client timeouts; the defaults are 30 s, 30 s
// and 2 min.
func WithTimeouts(t Timeouts) Option {
	return func(g *Gateway) error {
		if t.Read <= 0 || t.Write <= 0 || t.Idle <= 0 {
			return fmt.Errorf("gateway: timeouts %+v: want each above 0", t)
		}
		g.slow = t
		return nil
	}
}

// WithMaxBody sets the largest request body, in bytes (default 1 MiB);
// larger ones get 413. Workers refuse jobs over their queue.max_payload
// in any case.
func WithMaxBody(n int) Option {
	return func(g *Gateway) error {
		if n < 1024 {
			return fmt.Errorf("gateway: max body %d: want at least 1024 bytes", n)
		}
		g.maxBody = n
		return nil
	}
}

// WithLogger sets the logger (default: none).
func WithLogger(l *slog.Logger) Option {
	return func(g *Gateway) error { g.log = l; return nil }
}

// grace is how long after a job's deadline the gateway still waits for
// its result: the worker ends the job at the deadline and then stores it.
const grace = 10 * time.Second

// Gateway serves the HTTP API. Its zero value is not usable: call New.
type Gateway struct {
	conn    *broker.Conn
	model   string
	timeout time.Duration
	slow    Timeouts
	maxBody int
	log     *slog.Logger
	keys    atomic.Pointer[keyring]
	mux     *http.ServeMux

	srv    *http.Server
	served chan struct{} // closed when srv.Serve returns

	// cut ends every request still waiting when Shutdown's context ends.
	cut    context.Context
	cutNow context.CancelFunc

	mu       sync.RWMutex // guards stopped against handlers.Add
	stopped  bool
	handlers sync.WaitGroup
	closing  atomic.Bool
	done     chan struct{} // closed when Shutdown has finished
}

// New returns a gateway for cfg. It serves nothing until Start, or
// until its ServeHTTP is mounted elsewhere.
func New(cfg Config, opts ...Option) (*Gateway, error) {
	if cfg.Conn == nil {
		return nil, errors.New("gateway: no NATS connection")
	}
	if cfg.Model == "" {
		return nil, errors.New("gateway: no model name")
	}
	g := &Gateway{
		conn:    cfg.Conn,
		model:   cfg.Model,
		timeout: 10 * time.Minute,
		slow:    Timeouts{Read: 30 * time.Second, Write: 30 * time.Second, Idle: 2 * time.Minute},
		maxBody: 1 << 20,
		log:     slog.New(slog.DiscardHandler),
		served:  make(chan struct{}),
		done:    make(chan struct{}),
	}
	g.cut, g.cutNow = context.WithCancel(context.Background())
	g.keys.Store(&keyring{})
	for _, o := range opts {
		if err := o(g); err != nil {
			return nil, err
		}
	}
	g.mux = http.NewServeMux()
	g.mux.HandleFunc("/v1/chat/completions", g.only("POST", g.authorized(g.serve(chatAPI))))
	g.mux.HandleFunc("/v1/responses", g.only("POST", g.authorized(g.serve(responsesAPI))))
	g.mux.HandleFunc("/v1/completions", g.only("POST", g.authorized(g.serve(completionsAPI))))
	g.mux.HandleFunc("/v1/models", g.only("GET", g.authorized(g.models)))
	g.mux.HandleFunc("/v1/models/{model}", g.only("GET", g.authorized(g.models)))
	g.mux.HandleFunc("/healthz", g.only("GET", g.health))
	g.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, newError(http.StatusNotFound, typeInvalid, "unknown_url", "", "Unknown request URL: %s %s (sieve serves POST /v1/chat/completions, POST /v1/responses, POST /v1/completions, GET /v1/models and GET /healthz)", r.Method, r.URL.Path))
	})
	return g, nil
}

// SetKeys replaces the API keys (a SIGHUP reload); requests under way
// keep the key they came with. It changes nothing when a key is bad.
func (g *Gateway) SetKeys(keys []Key) error {
	r, err := newKeyring(keys)
	if err != nil {
		return err
	}
	g.keys.Store(r)
	return nil
}

// Keys returns how many API keys are in force (0: the door is open).
func (g *Gateway) Keys() int { return len(g.keys.Load().keys) }

// Start serves on ln until Shutdown.
func (g *Gateway) Start(ln net.Listener) {
	g.srv = &http.Server{
		Handler:           g,
		ReadHeaderTimeout: min(10*time.Second, g.slow.Read),
		ReadTimeout:       g.slow.Read, // the body too: a client trickling it is cut
		IdleTimeout:       g.slow.Idle,
		ErrorLog:          slog.NewLogLogger(g.log.Handler(), slog.LevelDebug),
	}
	go func() {
		defer close(g.served)
		g.srv.Serve(ln)
	}()
}

// ServeHTTP implements http.Handler.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.mu.RLock()
	if g.stopped {
		g.mu.RUnlock()
		writeError(w, shuttingDown())
		return
	}
	g.handlers.Add(1)
	g.mu.RUnlock()
	defer g.handlers.Done()
	g.mux.ServeHTTP(w, r)
}

// Shutdown stops accepting requests and waits for those under way to get
// their results until ctx ends; then it cuts the rest short (each gets
// 503 shutting_down, and its job is cancelled) and returns ctx's error.
// It may be called more than once; later calls wait for the first.
func (g *Gateway) Shutdown(ctx context.Context) error {
	if !g.closing.CompareAndSwap(false, true) {
		<-g.done
		return nil
	}
	defer close(g.done)
	var err error
	if g.srv != nil {
		err = g.srv.Shutdown(ctx) // stops accepting; waits for every handler, or ctx
	}
	g.mu.Lock()
	g.stopped = true // a handler mounted elsewhere takes no new request
	g.mu.Unlock()
	finished := make(chan struct{})
	go func() { g.handlers.Wait(); close(finished) }()
	if g.srv == nil {
		select {
		case <-finished:
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	g.cutNow()
	select {
	case <-finished:
	case <-time.After(5 * time.Second):
		// A handler stuck writing to a client that reads nothing: closing
		// the connections unblocks it (where the server is ours).
	}
	if g.srv != nil {
		g.srv.Close()
		<-g.served
		<-finished
	}
	return err
}

func shuttingDown() *apiError {
	return newError(http.StatusServiceUnavailable, typeServer, "shutting_down", "", "the server is shutting down; send the request again")
}

// only answers 405 in OpenAI's shape to other methods.
func (g *Gateway) only(method string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != method && !(method == "GET" && r.Method == "HEAD") {
			w.Header().Set("Allow", method)
			writeError(w, newError(http.StatusMethodNotAllowed, typeInvalid, "method_not_allowed", "", "%s %s: use %s", r.Method, r.URL.Path, method))
			return
		}
		h(w, r)
	}
}

type keyHandler func(w http.ResponseWriter, r *http.Request, k storedKey)

// authorized checks the bearer key when keys are configured.
func (g *Gateway) authorized(h keyHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ring := g.keys.Load()
		if len(ring.keys) == 0 {
			h(w, r, storedKey{})
			return
		}
		scheme, secret, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		secret = strings.TrimSpace(secret)
		if !strings.EqualFold(scheme, "Bearer") || secret == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="sieve"`)
			writeError(w, newError(http.StatusUnauthorized, typeInvalid, "missing_api_key", "", "You didn't provide an API key: send it in an Authorization header as \"Bearer KEY\""))
			return
		}
		k, ok := ring.lookup(secret)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="sieve", error="invalid_token"`)
			writeError(w, newError(http.StatusUnauthorized, typeInvalid, "invalid_api_key", "", "Incorrect API key provided"))
			return
		}
		h(w, r, k)
	}
}

func (g *Gateway) health(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if !g.conn.NC.IsConnected() {
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, "NATS is not connected\n")
		return
	}
	io.WriteString(w, "ok\n")
}

func (g *Gateway) models(w http.ResponseWriter, r *http.Request, _ storedKey) {
	m := modelJSON{ID: g.model, Object: "model", OwnedBy: "sieve"}
	if name := r.PathValue("model"); name != "" {
		if name != g.model {
			writeError(w, newError(http.StatusNotFound, typeInvalid, "model_not_found", "model", "the model %q does not exist here: this server serves %q", name, g.model))
			return
		}
		writeJSON(w, m)
		return
	}
	writeJSON(w, modelList{Object: "list", Data: []modelJSON{m}})
}

// api is one of OpenAI's endpoints as the door serves it: how its
// requests become a job, and the names its answers use.
type api struct {
	name     string                                               // in logs
	idPrefix string                                               // of the answer's id, before the job's id
	params   map[string]string                                    // the parameter behind each rejection code
	parse    func(body []byte, model string) (request, *apiError) // strict: see request.go
}

// serve answers a request to a: it becomes an ordinary job, submitted on
// NATS; its chunks are relayed as they come when it streams, and its
// result ends the answer.
func (g *Gateway) serve(a api) keyHandler {
	return func(w http.ResponseWriter, r *http.Request, k storedKey) {
		start := time.Now()
		req, id, payload, timeout, e := g.prepare(w, r, k, a)
		if e != nil {
			writeError(w, e)
			return
		}
		w.Header().Set("X-Sieve-Job", id)
		log := g.log.With("job", id)
		log.Debug("http request", "api", a.name, "stream", req.stream, "remote", r.RemoteAddr)

		ctx, cancel := context.WithTimeout(r.Context(), timeout+grace)
		defer cancel()
		defer context.AfterFunc(g.cut, cancel)()
		out := &reply{id: a.idPrefix + id, jobID: id, created: start.Unix(), model: g.model, shape: req.shape, params: a.params, writeTimeout: g.slow.Write}
		var onChunk func(job.Chunk)
		if req.stream {
			out.stream = &streamer{w: w, rc: http.NewResponseController(w), usage: req.includeUsage, timeout: g.slow.Write, cut: cancel}
			onChunk = out.relayChunk
		}
		res, err := g.conn.Submit(ctx, id, payload, onChunk)
		if err != nil {
			cutOff := out.stream != nil && out.stream.broken
			e := g.giveUp(r, ctx, id, r.Header.Get("Idempotency-Key") != "", cutOff, err, log)
			if e != nil {
				out.fail(w, e)
			}
			return
		}
		out.finish(w, res)
		log.Info("http request done", "api", a.name, "status", res.Status, "finish", res.FinishReason, "stream", req.stream,
			"completion_tokens", res.Usage.CompletionTokens, "ms", time.Since(start).Milliseconds())
	}
}

// prepare reads and parses a request to a and makes its job: the id,
// the payload to submit and the deadline.
func (g *Gateway) prepare(w http.ResponseWriter, r *http.Request, k storedKey, a api) (req request, id string, payload []byte, timeout time.Duration, e *apiError) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(g.maxBody)))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			e = newError(http.StatusRequestEntityTooLarge, typeInvalid, "request_too_large", "", "the request body is over the limit of %d bytes (queue.max_payload)", g.maxBody)
		} else {
			e = invalid("invalid_body", "", "could not read the request body: %v", err)
		}
		return
	}
	if req, e = a.parse(body, g.model); e != nil {
		return
	}
	j := &req.job
	if j.Policy, e = policy(r.Header, k); e != nil {
		return
	}
	if timeout, e = g.deadline(r.Header); e != nil {
		return
	}
	ms := timeout.Milliseconds()
	j.TimeoutMS = &ms
	if id, e = jobID(k, r.Header.Get("Idempotency-Key")); e != nil {
		return
	}
	if payload, err = job.Marshal(j); err != nil {
		e = newError(http.StatusInternalServerError, typeServer, "internal_error", "", "encode the job: %v", err)
		return
	}
	// The checks every worker makes that need no model: a bad value is
	// a 400 now rather than a job that fails on a worker.
	if _, pe := job.Parse(payload, id, job.Limits{MaxPayload: g.maxBody}); pe != nil {
		e = rejection(pe, a.params)
	}
	return
}

// giveUp handles a job whose result did not come: its job is cancelled
// (nobody waits for it any more; also after another error, as the job
// may be queued already) and the client, if still there, told why. A job
// named by an Idempotency-Key is left to run (its own deadline ends it):
// the client's retry comes back for it.
func (g *Gateway) giveUp(r *http.Request, ctx context.Context, id string, idem, cutOff bool, err error, log *slog.Logger) *apiError {
	gone := r.Context().Err() != nil || cutOff
	if !idem {
		if cerr := g.conn.Cancel(id); cerr != nil {
			log.Warn("cancel failed", "err", cerr)
		}
	}
	switch {
	case gone:
		log.Info("client went away, or read nothing for http.write_timeout", "job_cancelled", !idem)
		return nil
	case !errors.Is(err, broker.ErrNoResult) && ctx.Err() == nil:
		log.Warn("job not submitted or followed", "err", err)
		return newError(http.StatusServiceUnavailable, typeServer, "unavailable", "", "could not submit the job or wait for its result: %v", err)
	case g.cut.Err() != nil:
		log.Info("cut short by shutdown", "job_cancelled", !idem)
		return shuttingDown()
	}
	log.Warn("no result before the deadline", "job_cancelled", !idem)
	e := newError(http.StatusGatewayTimeout, typeServer, "timeout", "", "no result for job %s before its deadline (are workers running?)", id)
	e.final = true // its job is cancelled; a retry would wait as long again
	return e
}

// policy is the filter policy of a request: the key's, or the one asked
// for in X-Sieve-Policy when the key names none.
func policy(h http.Header, k storedKey) (string, *apiError) {
	asked := h.Get("X-Sieve-Policy")
	switch {
	case k.policy != "" && asked != "" && asked != k.policy:
		return "", newError(http.StatusForbidden, "permission_error", "policy_not_allowed", "", "this API key is bound to its own policy; X-Sieve-Policy %q is not allowed", asked)
	case k.policy != "":
		return k.policy, nil
	}
	return asked, nil
}

// maxTimeout bounds a timeout header (workers cut it further).
const maxTimeout = 24 * time.Hour

// deadline is the job's timeout: X-Sieve-Timeout, or the SDKs'
// X-Stainless-Timeout (both in seconds), or the gateway's default.
func (g *Gateway) deadline(h http.Header) (time.Duration, *apiError) {
	for _, name := range []string{"X-Sieve-Timeout", "X-Stainless-Timeout"} {
		v := h.Get(name)
		if v == "" {
			continue
		}
		sec, err := strconv.ParseFloat(v, 64)
		if name == "X-Stainless-Timeout" && err == nil && sec < 1 {
			continue // the SDKs send "0" for a timeout under a second or none
		}
		if err != nil || math.IsNaN(sec) || sec < 0.001 {
			return 0, invalid("invalid_value", name, "header %s %q: want a number of seconds", name, v)
		}
		return time.Duration(min(sec, maxTimeout.Seconds()) * float64(time.Second)), nil
	}
	return g.timeout, nil
}

// jobID is a fresh id under the key's tenant prefix, or, for a request
// with an Idempotency-Key, the same id every time that key (under that
// API key) is sent: a retried request then gets the first one's job.
func jobID(k storedKey, idem string) (string, *apiError) {
	if idem == "" {
		var b [12]byte
		rand.Read(b[:])
		return k.idPrefix() + "." + hex.EncodeToString(b[:]), nil
	}
	if len(idem) > 256 {
		return "", invalid("invalid_value", "Idempotency-Key", "header Idempotency-Key: want at most 256 characters")
	}
	h := sha256.New()
	h.Write(k.hash[:]) // two API keys sending the same key get different jobs
	h.Write([]byte(idem))
	return k.idPrefix() + ".idem-" + hex.EncodeToString(h.Sum(nil)[:16]), nil
}
