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
	// Chunks go through a channel that the connection's reader fills and
	// one goroutine of ours empties into onChunk. Once the result is in,
	// a flush (a round trip to the server) guarantees every chunk sent
	// before it is in the channel; then the goroutine empties what is
	// left and Submit returns only after it, so onChunk never runs late.
	if onChunk != nil {
		chunks := make(chan *nats.Msg, 1024)
		sub, err := c.NC.ChanSubscribe(c.Subjects.Stream(id), chunks)
		if err != nil {
			return res, c.explainSince(err, start)
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
		defer func() {
			c.NC.Flush()
			sub.Unsubscribe()
			close(resultIn)
			<-relayed
		}()
		if err := c.NC.Flush(); err != nil {
			return res, c.explainSince(err, start)
		}
	}
	if _, err := c.JS.Publish(ctx, c.Subjects.Job(id), payload, jetstream.WithMsgID(id)); err != nil && !alreadyQueued(err) {
		return res, fmt.Errorf("publish %s: %w", c.Subjects.Job(id), c.explainSince(err, start))
	}
	cons, err := c.JS.OrderedConsumer(ctx, c.Subjects.ResultsStream(), jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{c.Subjects.Result(id)},
		DeliverPolicy:  jetstream.DeliverLastPerSubjectPolicy,
	})
	if err != nil {
		return res, fmt.Errorf("read %s: %w", c.Subjects.Result(id), c.explainSince(err, start))
	}
	for {
		if ctx.Err() != nil {
			return res, c.explainSince(ErrNoResult, start)
		}
		// Each pull asks for at most 30 s, so a lost pull request costs
		// no more than that; ctx's end stops the wait at once.
		pull, cancel := context.WithTimeout(ctx, 30*time.Second)
		msg, err := cons.Next(jetstream.FetchContext(pull))
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return res, c.explainSince(ErrNoResult, start)
			}
			if errors.Is(err, nats.ErrTimeout) || errors.Is(err, jetstream.ErrNoMessages) || errors.Is(err, context.DeadlineExceeded) {
				if p := c.explainSince(err, start); errors.Is(p, ErrPermission) {
					return res, p
				}
				continue
			}
			return res, c.explainSince(err, start)
		}
		if err := json.Unmarshal(msg.Data(), &res); err != nil {
			return res, fmt.Errorf("result of %s is not JSON: %w", id, err)
		}
		return res, nil
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

// Cancel asks the workers to stop job id: a running job ends with status
// cancelled within one token, and a queued one is cancelled when a worker
// takes it. It does not wait for the job's result.
func (c *Conn) Cancel(id string) error {
	if err := c.NC.Publish(c.Subjects.Cancel(id), nil); err != nil {
		return c.explain(err)
	}
	return c.NC.Flush()
}
