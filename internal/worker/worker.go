// Package worker serves jobs from NATS: it pulls jobs from the shared
// JetStream consumer as slots free up, runs each through the pipeline,
// streams the moderated chunks, stores the one final result and only then
// acknowledges the job. It also answers request/reply generation and
// filter checks as a NATS micro service, cancels jobs on request, and
// drains on shutdown.
//
// Delivery rules: a job is acked only after its result is stored; bad input
// gets a rejected result and is terminated, never redelivered; an engine
// failure is retried with backoff and ends as failed after the last
// delivery; a job cut short by a drain is handed back (nak) without a
// result, for another worker.
package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"

	"github.com/sieve-project/sieve/internal/broker"
	"github.com/sieve-project/sieve/internal/config"
	"github.com/sieve-project/sieve/internal/filter"
	"github.com/sieve-project/sieve/internal/metrics"
	"github.com/sieve-project/sieve/internal/pipeline"
	"github.com/sieve-project/sieve/job"
)

// Headers of the request/reply protocol.
const (
	HeaderStream = "Sieve-Stream" // request: "true" asks for chunks before the result
	HeaderFinal  = "Sieve-Final"  // reply: "true" marks the final result
)

// Config is what a Worker needs.
type Config struct {
	Conn     *broker.Conn
	Consumer jetstream.Consumer
	Runner   *pipeline.Runner
	Queue    config.Queue
	Parallel int    // jobs at once; the engine's slots
	Name     string // worker name in results, e.g. "host/1234"
	Version  string // service version for micro
	Log      *slog.Logger
	// Metrics, if set, records every result and the busy slots.
	Metrics *metrics.Metrics
	// BeforeChunk, if set, is called just before each chunk of a queued
	// job is published; sieve bench uses it to time delivery.
	BeforeChunk func(id string, seq int)
}

// Worker is a running job server. Its methods are safe for concurrent use.
type Worker struct {
	cfg  Config
	log  *slog.Logger
	subj broker.Subjects

	slots chan struct{} // one token per job running

	jobsCtx    context.Context // parent of every job; cancelled with errDraining at the drain timeout
	cancelJobs context.CancelCauseFunc

	stopPull chan struct{}
	pullCtx  context.Context // cancelled with stopPull, to end a fetch at once
	endPull  context.CancelFunc
	pullDone chan struct{}
	jobs     sync.WaitGroup

	mu        sync.Mutex
	draining  bool // set under mu, so no request joins jobs once Shutdown waits on it
	running   map[string]context.CancelCauseFunc
	cancelled map[string]time.Time // cancel requests for jobs not (yet) running

	svc       micro.Service
	cancelSub *nats.Subscription
	shutdown  atomic.Bool
	done      chan struct{}
}

var (
	errDraining        = errors.New("worker is draining")
	errCancelRequested = errors.New("cancel requested")
)

// maxPendingCancels bounds the memory kept for cancel requests of jobs not
// seen yet.
const maxPendingCancels = 10000

// Start starts pulling jobs and serving requests.
func Start(ctx context.Context, cfg Config) (*Worker, error) {
	if cfg.Parallel < 1 {
		return nil, fmt.Errorf("worker: parallel %d: want at least 1", cfg.Parallel)
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	jobsCtx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	pullCtx, endPull := context.WithCancel(context.WithoutCancel(ctx))
	w := &Worker{
		cfg:        cfg,
		log:        log,
		subj:       cfg.Conn.Subjects,
		slots:      make(chan struct{}, cfg.Parallel),
		jobsCtx:    jobsCtx,
		cancelJobs: cancel,
		stopPull:   make(chan struct{}),
		pullCtx:    pullCtx,
		endPull:    endPull,
		pullDone:   make(chan struct{}),
		running:    map[string]context.CancelCauseFunc{},
		cancelled:  map[string]time.Time{},
		done:       make(chan struct{}),
	}
	nc := cfg.Conn.NC
	sub, err := nc.Subscribe(w.subj.CancelAll(), w.onCancel)
	if err != nil {
		cancel(nil)
		return nil, fmt.Errorf("worker: subscribe to cancels: %w", err)
	}
	w.cancelSub = sub
	svc, err := micro.AddService(nc, micro.Config{
		Name:        "sieve",
		Version:     cfg.Version,
		Description: "local LLM generation behind a keyword filter",
		QueueGroup:  "sieve",
	})
	if err == nil {
		err = svc.AddEndpoint("generate", micro.HandlerFunc(w.onGenerate), micro.WithEndpointSubject(w.subj.Generate()))
	}
	if err == nil {
		err = svc.AddEndpoint("check", micro.HandlerFunc(w.onCheck), micro.WithEndpointSubject(w.subj.Check()))
	}
	if err != nil {
		sub.Unsubscribe()
		if svc != nil {
			svc.Stop()
		}
		cancel(nil)
		return nil, fmt.Errorf("worker: micro service: %w", err)
	}
	w.svc = svc
	// The server has the service's and the cancels' subscriptions once
	// this round trip is back: a request sent when Start returns finds
	// them (a disconnected client flushes when it reconnects).
	if err := cfg.Conn.NC.FlushTimeout(5 * time.Second); err != nil && cfg.Conn.NC.IsConnected() {
		log.Warn("flush after subscribing", "err", err)
	}
	go w.pull()
	log.Info("worker started", "name", cfg.Name, "parallel", cfg.Parallel, "jobs", w.subj.Jobs(), "generate", w.subj.Generate())
	return w, nil
}

// pull fetches as many jobs as there are free slots, and no more, so jobs
// this worker cannot start stay in the queue for others.
func (w *Worker) pull() {
	defer close(w.pullDone)
	backoff := 100 * time.Millisecond
	for {
		select {
		case w.slots <- struct{}{}:
		case <-w.stopPull:
			return
		}
		free := 1
	more:
		for free < w.cfg.Parallel {
			select {
			case w.slots <- struct{}{}:
				free++
			default:
				break more
			}
		}
		fctx, cancel := context.WithTimeout(w.pullCtx, time.Second)
		batch, err := w.cfg.Consumer.Fetch(free, jetstream.FetchContext(fctx))
		got := 0
		if err == nil {
			for msg := range batch.Messages() {
				got++
				w.jobs.Add(1)
				go w.handle(msg)
			}
			err = batch.Error()
		}
		cancel()
		for i := got; i < free; i++ {
			<-w.slots
		}
		if err != nil && !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
			w.log.Warn("fetch failed", "err", err)
			select {
			case <-time.After(backoff):
			case <-w.stopPull:
				return
			}
			backoff = min(2*backoff, 5*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
	}
}

// handle runs one job message to its end. It holds a slot, taken by pull.
//
// The subject names the job: a job published on <prefix>.jobs.<id> is job
// <id>, and its one result goes to <prefix>.results.<id>, whatever the
// body says. An id names one job for as long as its result is kept: a job
// whose id has a stored result is acked and not run again.
func (w *Worker) handle(msg jetstream.Msg) {
	defer w.jobs.Done()
	defer func() { <-w.slots }()
	w.cfg.Metrics.SlotBusy(1)
	defer w.cfg.Metrics.SlotBusy(-1)
	start := time.Now()
	attempt, published := 1, start
	if meta, err := msg.Metadata(); err == nil {
		attempt, published = int(meta.NumDelivered), meta.Timestamp
	}
	id := w.subj.IDFromSubject(msg.Subject())
	log := w.log.With("job", id, "attempt", attempt)
	if w.skipIfStored(msg, id, attempt, log) {
		return
	}
	if max := w.cfg.Queue.MaxDeliver; attempt > max {
		// Every delivery ended without a result: a worker stopped or
		// crashed with it, or could not store its result. The id answers
		// with why, instead of waiting forever.
		log.Error("job delivered too often without a result; it fails", "max_deliver", max)
		r := job.Ended(job.Job{ID: id}, job.Failed, "error", &job.Error{Code: job.CodeMaxDeliver, Message: fmt.Sprintf("delivered %d times (queue.max_deliver %d) without a result: the workers that took it stopped, crashed or could not store its result; publish it again", attempt-1, max)})
		w.storeAndAck(msg, log, r, attempt, start, published)
		return
	}
	ctx, cancel, ok := w.register(id)
	if !ok {
		// The stream holds one job per id, so this is the same message,
		// redelivered while it still runs here: leave it to the run.
		log.Warn("a job with this id is running here; its redelivery waits")
		msg.NakWithDelay(w.backoff(attempt))
		return
	}
	defer w.unregister(id, cancel)
	var (
		a   *pipeline.Admitted
		rej *job.Result
	)
	if e := job.CheckQueuedID(id); e != nil {
		r := job.Ended(job.Job{ID: id}, job.Rejected, "error", e)
		rej = &r
	} else {
		a, rej = w.cfg.Runner.Admit(msg.Data(), id)
	}
	if rej != nil {
		w.retryOrStore(msg, log, *rej, attempt, start, published)
		return
	}
	if w.takeCancelled(id) || w.cancelledBefore(id, published, log) {
		cancel(errCancelRequested)
	}
	cancelled := ctx.Err() != nil
	ctx, cancelDeadline, deadline := a.WithDeadline(ctx, published)
	defer cancelDeadline()
	if !cancelled && !deadline.IsZero() && time.Now().After(deadline) {
		log.Info("job expired before it started", "waited", time.Since(published))
		w.storeAndAck(msg, log, job.Ended(a.Job, job.Expired, "deadline", nil), attempt, start, published)
		return
	}
	stopBeat := w.heartbeat(msg, log)
	res := w.cfg.Runner.Generate(ctx, a, w.publishChunks(w.subj.Stream(id), id, attempt))
	stopBeat()
	if errors.Is(context.Cause(ctx), errDraining) && res.Status != job.Rejected {
		if attempt < w.cfg.Queue.MaxDeliver {
			// Cut short by shutdown: another worker does it again, whole.
			log.Info("job handed back at drain", "generated", res.Usage.CompletionTokens)
			if err := msg.Nak(); err != nil {
				log.Warn("nak failed", "err", err)
			}
			return
		}
		// Its last delivery: it ends here, saying why.
		log.Warn("job cut short by the drain at its last delivery; it fails", "max_deliver", w.cfg.Queue.MaxDeliver)
		res = job.Ended(a.Job, job.Failed, "error", &job.Error{Code: job.CodeInterrupted,
			Message: fmt.Sprintf("the worker shut down while the job ran, at its last delivery (%d of queue.max_deliver %d); publish it again", attempt, w.cfg.Queue.MaxDeliver)})
	}
	w.retryOrStore(msg, log, res, attempt, start, published)
}

// skipIfStored acks the job unrun if its result is stored already (a
// redelivery whose ack was lost, or the id used again; either way the
// stored result is the job's), and leaves it for redelivery if that cannot
// be told now. It reports whether it did either: the job is not to run.
func (w *Worker) skipIfStored(msg jetstream.Msg, id string, attempt int, log *slog.Logger) bool {
	stored, err := w.resultStored(id)
	switch {
	case err != nil:
		log.Warn("cannot tell whether a result is stored; job left for redelivery", "err", err)
		msg.NakWithDelay(w.backoff(attempt))
		return true
	case stored:
		log.Info("a result for this id is stored already; acked without running")
		if err := msg.Ack(); err != nil {
			log.Warn("ack failed", "err", err)
		}
		return true
	}
	return false
}

// heartbeat tells JetStream the job is alive well within ack_wait, so a
// long generation is never redelivered to another worker, until the
// function it returns is called.
func (w *Worker) heartbeat(msg jetstream.Msg, log *slog.Logger) (stop func()) {
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(max(w.cfg.Queue.AckWait.Duration/3, 100*time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-t.C:
				if err := msg.InProgress(); err != nil {
					log.Warn("in-progress signal failed", "err", err)
				}
			case <-quit:
				return
			}
		}
	}()
	return func() { close(quit); <-done }
}

// publishChunks returns the chunk callback of job id's attempt: each
// piece of released text, numbered from 1, published on subject. An
// attempt of 0 is left out of the chunks (request/reply has none).
func (w *Worker) publishChunks(subject, id string, attempt int) func(text string) error {
	seq := 0
	return func(text string) error {
		seq++
		b, err := job.Marshal(job.Chunk{ID: id, Seq: seq, Text: text, Attempt: attempt})
		if err != nil {
			return err
		}
		if w.cfg.BeforeChunk != nil && attempt > 0 {
			w.cfg.BeforeChunk(id, seq)
		}
		return w.cfg.Conn.NC.Publish(subject, b)
	}
}

// retryOrStore hands a job the engine failed back for a retry, while
// deliveries remain, and otherwise stores res as its result (storeAndAck).
func (w *Worker) retryOrStore(msg jetstream.Msg, log *slog.Logger, res job.Result, attempt int, start, published time.Time) {
	if res.Status == job.Failed && res.Error != nil && res.Error.Code == job.CodeEngineError {
		if attempt < w.cfg.Queue.MaxDeliver {
			delay := w.backoff(attempt)
			log.Warn("job failed, will retry", "err", res.Error.Message, "retry_in", delay)
			if err := msg.NakWithDelay(delay); err != nil {
				log.Warn("nak failed", "err", err)
			}
			return
		}
		res.Error.Message = fmt.Sprintf("%s (after %d of %d deliveries)", res.Error.Message, attempt, w.cfg.Queue.MaxDeliver)
	}
	w.storeAndAck(msg, log, res, attempt, start, published)
}

// stored says what became of a result storeAndAck was to store.
type stored int

const (
	storedNow    stored = iota // stored by this call
	storedBefore               // the id had its result already: another run's, or this one's published twice
	notStored                  // not stored: the job is left for redelivery
)

// storeAndAck stores the result, then acks (or terminates) the job: the ack
// comes only after JetStream confirmed the result, so a crash between the
// two redelivers the job rather than losing it, and the redelivery finds
// the result stored.
//
// The result is stored only if the id has none yet (JetStream checks the
// subject's last sequence atomically): a result, once stored, is the
// job's for as long as it is kept, and no later run can replace it. It
// always fits in a message: hit lists too long for one are cut, with
// counts of what was left out (job.Fit).
func (w *Worker) storeAndAck(msg jetstream.Msg, log *slog.Logger, res job.Result, attempt int, start, published time.Time) stored {
	res.Worker, res.Attempt = w.cfg.Name, attempt
	res.Timings.QueuedMS = start.Sub(published).Milliseconds()
	b, err := job.Fit(res, w.maxResult())
	if err != nil {
		// Cannot happen with sieve's own results (the text is bounded by
		// the slot); still, the id must answer: say why, in few bytes.
		log.Error("encode result", "err", err)
		f := job.Ended(job.Job{ID: res.ID}, job.Failed, "error", &job.Error{Code: job.CodeEngineError, Message: "the result could not be encoded: " + err.Error()})
		f.Worker, f.Attempt = res.Worker, res.Attempt
		res, b = f, nil
		if b, err = job.Marshal(f); err != nil {
			msg.NakWithDelay(w.backoff(attempt))
			return notStored
		}
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(w.jobsCtx), 10*time.Second)
	defer cancel()
	ack, err := w.cfg.Conn.JS.Publish(ctx, w.subj.Result(res.ID), b,
		jetstream.WithMsgID("result:"+res.ID), jetstream.WithExpectLastSequencePerSubject(0))
	var apiErr *jetstream.APIError
	var outcome stored
	switch {
	case errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence || apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant):
		log.Warn("a result for this id was stored meanwhile; it stands, this one is dropped", "status", res.Status)
		outcome, err = storedBefore, msg.Ack()
	case err != nil:
		// Not stored: leave the job to be redelivered. Deliveries are
		// not limited on the consumer (the worker counts them), so the
		// job stays retriable until a result is stored.
		log.Error("store result failed; job left for redelivery", "err", err)
		msg.NakWithDelay(w.backoff(attempt))
		return notStored
	case ack.Duplicate:
		// The same result published again within the duplicate window
		// (a run whose first store was confirmed late): stored once.
		log.Info("the result was stored already", "status", res.Status)
		outcome, err = storedBefore, msg.Ack()
	default:
		w.cfg.Metrics.Result(res)
		outcome = storedNow
		switch res.Status {
		case job.Rejected, job.Failed:
			err = msg.Term()
		default:
			err = msg.DoubleAck(ctx)
		}
	}
	if err != nil {
		log.Warn("ack failed", "err", err)
	}
	return outcome
}

// maxResult is the most bytes a result may take: what the server lets a
// message carry, less room for its headers.
func (w *Worker) maxResult() int {
	return int(w.cfg.Conn.NC.MaxPayload()) - 4096
}

// resultStored reports whether a result for id is stored.
func (w *Worker) resultStored(id string) (bool, error) {
	_, err := w.cfg.Conn.StoredResult(w.jobsCtx, id)
	if errors.Is(err, broker.ErrNotStored) {
		return false, nil
	}
	return err == nil, err
}

func (w *Worker) backoff(attempt int) time.Duration {
	b := w.cfg.Queue.Backoff
	if len(b) == 0 {
		return time.Second
	}
	return b[min(attempt, len(b))-1].Duration
}

// register marks id as running and returns its context; false if a job
// with that id is running already.
func (w *Worker) register(id string) (context.Context, context.CancelCauseFunc, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, dup := w.running[id]; dup {
		return nil, nil, false
	}
	ctx, cancel := context.WithCancelCause(w.jobsCtx)
	w.running[id] = cancel
	return ctx, cancel, true
}

func (w *Worker) unregister(id string, cancel context.CancelCauseFunc) {
	w.mu.Lock()
	delete(w.running, id)
	w.mu.Unlock()
	cancel(nil)
}

// cancelledBefore reports whether a cancel for id was requested while
// the job waited, perhaps before this worker started (the cancels
// stream keeps it). Where that cannot be told, the job runs: a cancel is
// a request, and the live subscription still hears new ones.
func (w *Worker) cancelledBefore(id string, published time.Time, log *slog.Logger) bool {
	ctx, cancel := context.WithTimeout(w.jobsCtx, 5*time.Second)
	defer cancel()
	ok, err := w.cfg.Conn.Cancelled(ctx, id, published)
	if err != nil {
		log.Warn("cannot tell whether the job was cancelled while it waited", "err", err)
	}
	return ok
}

func (w *Worker) takeCancelled(id string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	_, ok := w.cancelled[id]
	delete(w.cancelled, id)
	return ok
}

// onCancel cancels a running job, or remembers the request for a job not
// started yet (every worker hears every cancel; the one that has the job
// acts on it).
func (w *Worker) onCancel(m *nats.Msg) {
	id := w.subj.IDFromCancel(m.Subject)
	w.mu.Lock()
	defer w.mu.Unlock()
	if cancel, ok := w.running[id]; ok {
		cancel(errCancelRequested)
		w.log.Info("job cancel requested", "job", id)
		return
	}
	now := time.Now()
	if len(w.cancelled) >= maxPendingCancels {
		ttl := w.cfg.Queue.MaxTimeout.Duration
		for k, at := range w.cancelled {
			if now.Sub(at) > ttl || len(w.cancelled) >= maxPendingCancels {
				delete(w.cancelled, k)
			}
		}
	}
	w.cancelled[id] = now
}

// onGenerate answers a request/reply generation. It runs in its own
// goroutine so one long generation does not hold up the next request.
func (w *Worker) onGenerate(req micro.Request) {
	w.mu.Lock()
	if w.draining {
		w.mu.Unlock()
		req.Error("503", "worker is shutting down", nil)
		return
	}
	w.jobs.Add(1)
	w.mu.Unlock()
	go func() {
		defer w.jobs.Done()
		select {
		case w.slots <- struct{}{}:
		case <-w.jobsCtx.Done():
			req.Error("503", "worker is shutting down", nil)
			return
		}
		defer func() { <-w.slots }()
		w.cfg.Metrics.SlotBusy(1)
		defer w.cfg.Metrics.SlotBusy(-1)
		w.generate(req)
	}()
}

func (w *Worker) generate(req micro.Request) {
	stream := strings.EqualFold(req.Headers().Get(HeaderStream), "true")
	final := micro.WithHeaders(micro.Headers{HeaderFinal: []string{"true"}})
	reply := func(res job.Result) {
		w.cfg.Metrics.Result(res)
		b, _ := job.Marshal(res)
		if err := req.Respond(b, final); err != nil {
			w.log.Warn("reply failed", "job", res.ID, "err", err)
		}
	}
	// Request/reply jobs take ids from sieve's own namespace, which
	// queued jobs cannot use: one can never touch the other's results.
	id := job.NewRequestID()
	a, rej := w.cfg.Runner.Admit(req.Data(), id)
	if rej != nil {
		rej.Worker, rej.Attempt = w.cfg.Name, 1
		reply(*rej)
		return
	}
	j := a.Job
	ctx, cancel, ok := w.register(j.ID)
	if !ok { // a fresh random id: cannot happen
		reply(job.Ended(j, job.Rejected, "error", &job.Error{Code: job.CodeBadID, Message: fmt.Sprintf("id %q is in use", j.ID)}))
		return
	}
	defer w.unregister(j.ID, cancel)
	ctx, cancelDeadline, _ := a.WithDeadline(ctx, time.Now())
	defer cancelDeadline()
	chunk := func(string) error { return nil }
	if stream {
		chunk = w.publishChunks(req.Reply(), j.ID, 0)
	}
	res := w.cfg.Runner.Generate(ctx, a, chunk)
	if errors.Is(context.Cause(ctx), errDraining) {
		res.Status, res.FinishReason = job.Failed, "error"
		res.Error = &job.Error{Code: job.CodeShuttingDown, Message: "the worker shut down before the job finished; send it again"}
	}
	res.Worker, res.Attempt = w.cfg.Name, 1
	reply(res)
}

// onCheck runs the filter over the request body and replies with
// {"text", "hits", "blocked"}. The header Sieve-Apply-To: input picks the
// input lists, Sieve-Policy a policy other than the default.
func (w *Worker) onCheck(req micro.Request) {
	where := filter.Output
	if strings.EqualFold(req.Headers().Get("Sieve-Apply-To"), "input") {
		where = filter.Input
	}
	if len(req.Data()) > w.cfg.Queue.MaxPayload {
		req.Error("413", fmt.Sprintf("text is over queue.max_payload (%d bytes)", w.cfg.Queue.MaxPayload), nil)
		return
	}
	pol, err := w.cfg.Runner.Policies.Lookup(req.Headers().Get("Sieve-Policy"))
	if err != nil {
		req.Error("400", err.Error(), nil)
		return
	}
	res := pol.Filter().Check(where, string(req.Data()))
	b, _ := job.Marshal(res)
	req.Respond(b)
}

// Ready reports whether the worker takes jobs: started and not draining.
func (w *Worker) Ready() error {
	if w.shutdown.Load() {
		return errDraining
	}
	return nil
}

// Shutdown drains: it stops pulling and answering, lets running jobs
// finish until ctx is done, then cuts the rest short (they are handed
// back), and waits for every goroutine it started. It is safe to call more
// than once; later calls wait for the first.
func (w *Worker) Shutdown(ctx context.Context) error {
	if !w.shutdown.CompareAndSwap(false, true) {
		<-w.done
		return nil
	}
	defer close(w.done)
	close(w.stopPull)
	w.endPull()
	<-w.pullDone
	if err := w.svc.Stop(); err != nil {
		w.log.Warn("stop micro service", "err", err)
	}
	w.mu.Lock()
	w.draining = true
	w.mu.Unlock()
	finished := make(chan struct{})
	go func() { w.jobs.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-ctx.Done():
		w.log.Warn("drain timeout: handing back running jobs")
		w.cancelJobs(errDraining)
		<-finished
	}
	w.cancelJobs(errDraining)
	if err := w.cancelSub.Unsubscribe(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		w.log.Warn("unsubscribe cancels", "err", err)
	}
	w.log.Info("worker drained")
	return nil
}
