package broker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sieve-project/sieve/job"
)

// ErrNoResult is returned by Submit when ctx ends (its deadline or a
// cancel) before the result.
var ErrNoResult = errors.New("no result before the deadline")

// Submit publishes a job's bytes under id, calls onChunk (when not nil)
// with each streamed chunk, and returns the job's final result. An id
// names one job for as long as its result is kept: when a job with this id
// is queued or running already, or its result stored, Submit returns that
// job's result.
//
// Chunks and the result travel on different subjects: the result is the
// authority on the text, and onChunk may miss the tail if the caller
// subscribed late.
func (c *Conn) Submit(ctx context.Context, id string, payload []byte, onChunk func(job.Chunk)) (job.Result, error) {
	var res job.Result
	start := time.Now()
	if e := job.CheckID(id); e != nil {
		return res, errors.New(e.Message)
	}
	if job.Reserved(id) {
		return res, fmt.Errorf("id %q: ids starting with \"_\" are sieve's own", id)
	}
	if onChunk != nil {
		// Subscribed before the job is published, so no chunk goes by
		// unseen; stopped only after the result (deferred first, it
		// runs last).
		stop, err := c.relayChunks(id, onChunk, start)
		if err != nil {
			return res, err
		}
		defer stop()
	}
	// The result: a subscription to its subject, made before the job is
	// published, sees it when a worker stores it; one stored before (the
	// id's job ran already) is read directly from the stream. No
	// JetStream consumer is made: a consumer per request is a Raft
	// proposal each on a cluster, and lingers for its inactive threshold.
	results := make(chan *nats.Msg, 4)
	rsub, err := c.NC.ChanSubscribe(c.Subjects.Result(id), results)
	if err != nil {
		return res, c.explainSince(err, start)
	}
	defer rsub.Unsubscribe()
	if err := c.NC.Flush(); err != nil {
		return res, c.explainSince(err, start)
	}
	if _, err := c.JS.Publish(ctx, c.Subjects.Job(id), payload, jetstream.WithMsgID(id)); err != nil && !alreadyQueued(err) {
		return res, fmt.Errorf("publish %s: %w", c.Subjects.Job(id), c.explainSince(err, start))
	}
	return c.awaitResult(ctx, id, results, start)
}

// relayChunks subscribes to id's chunks and calls onChunk with each, in
// order, until stop. Chunks go through a channel that the connection's
// reader fills and one goroutine of ours empties into onChunk. stop, once
// the result is in, flushes (a round trip to the server guarantees every
// chunk sent before the result is in the channel); then the goroutine
// empties what is left, and stop returns only after it, so onChunk never
// runs after Submit returns.
func (c *Conn) relayChunks(id string, onChunk func(job.Chunk), start time.Time) (stop func(), err error) {
	chunks := make(chan *nats.Msg, 1024)
	sub, err := c.NC.ChanSubscribe(c.Subjects.Stream(id), chunks)
	if err != nil {
		return nil, c.explainSince(err, start)
	}
	resultIn := make(chan struct{})
	relayed := make(chan struct{})
	go func() {
		defer close(relayed)
		relay := func(m *nats.Msg) {
			var ch job.Chunk
			if json.Unmarshal(m.Data, &ch) == nil {
				onChunk(ch)
			}
		}
		for {
			select {
			case m := <-chunks:
				relay(m)
			case <-resultIn:
				for {
					select {
					case m := <-chunks:
						relay(m)
					default:
						return
					}
				}
			}
		}
	}()
	stop = func() {
		c.NC.Flush()
		sub.Unsubscribe()
		close(resultIn)
		<-relayed
	}
	if err := c.NC.Flush(); err != nil {
		stop()
		return nil, c.explainSince(err, start)
	}
	return stop, nil
}

// awaitResult waits for id's result: on results, the subscription to its
// subject, or stored in the stream already. It asks the stream first, and
// again every 30 s, for a result stored before the subscription or while
// it missed a message (a reconnect).
func (c *Conn) awaitResult(ctx context.Context, id string, results <-chan *nats.Msg, start time.Time) (job.Result, error) {
	decode := func(data []byte) (job.Result, error) {
		var r job.Result
		if err := json.Unmarshal(data, &r); err != nil {
			return r, fmt.Errorf("result of %s is not JSON: %w", id, err)
		}
		return r, nil
	}
	for {
		data, err := c.StoredResult(ctx, id)
		switch {
		case err == nil:
			return decode(data)
		case ctx.Err() != nil:
			return job.Result{}, c.explainSince(ErrNoResult, start)
		case !errors.Is(err, ErrNotStored):
			if p := c.explainSince(err, start); errors.Is(p, ErrPermission) {
				return job.Result{}, p
			}
		}
		select {
		case m := <-results:
			return decode(m.Data)
		case <-ctx.Done():
			return job.Result{}, c.explainSince(ErrNoResult, start)
		case <-time.After(30 * time.Second):
		}
	}
}

// ErrNotStored is StoredResult's answer when id has no result stored.
var ErrNotStored = errors.New("no result stored")

// StoredResult returns the result stored for id, or ErrNotStored.
func (c *Conn) StoredResult(ctx context.Context, id string) ([]byte, error) {
	m, err := c.directGet(ctx, c.Subjects.ResultsStream(), c.Subjects.Result(id))
	if err != nil {
		return nil, err
	}
	return m.Data, nil
}

// directGet reads the last message on subject in stream with JetStream's
// direct get by subject ($JS.API.DIRECT.GET.<stream>.<subject>), one
// round trip that NATS permissions can grant per subject (per tenant);
// ErrNotStored when there is none.
func (c *Conn) directGet(ctx context.Context, stream, subject string) (*nats.Msg, error) {
	get, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	m, err := c.NC.RequestWithContext(get, "$JS.API.DIRECT.GET."+stream+"."+subject, nil)
	if err != nil {
		return nil, c.explain(err)
	}
	switch status := m.Header.Get("Status"); status {
	case "":
		return m, nil
	case "404":
		return nil, ErrNotStored
	default:
		return nil, fmt.Errorf("direct get of %s: status %s %s", subject, status, m.Header.Get("Description"))
	}
}

// alreadyQueued reports whether a publish was refused because a job with
// its id is in the queue (the jobs stream holds one per subject).
func alreadyQueued(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jsStreamStoreFailed && strings.Contains(apiErr.Description, "maximum messages per subject")
}

// jsStreamStoreFailed is nats-server's JSStreamStoreFailedF.
const jsStreamStoreFailed = 10077

// Cancelled reports whether a cancel request for id was made at or after
// since (the job's publication): the cancels stream keeps them, so a
// worker that takes a queued job honours a cancel it never heard.
func (c *Conn) Cancelled(ctx context.Context, id string, since time.Time) (bool, error) {
	m, err := c.directGet(ctx, c.Subjects.CancelsStream(), c.Subjects.Cancel(id))
	if errors.Is(err, ErrNotStored) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	at, err := time.Parse(time.RFC3339Nano, m.Header.Get("Nats-Time-Stamp"))
	if err != nil {
		return false, fmt.Errorf("cancel of %s: no time stamp: %w", id, err)
	}
	return !at.Before(since), nil
}

// Cancel asks the workers to stop job id: a running job ends with status
// cancelled within one token, and a queued one is cancelled when a worker
// takes it (the cancels stream keeps the request). It does not wait for
// the job's result.
func (c *Conn) Cancel(id string) error {
	if err := c.NC.Publish(c.Subjects.Cancel(id), nil); err != nil {
		return c.explain(err)
	}
	return c.NC.Flush()
}
