package broker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sieve-project/sieve/job"
)

// ErrNoResult is returned by Submit when ctx ends before the result.
var ErrNoResult = errors.New("no result before the deadline")

// Submit publishes a job's bytes under id, calls onChunk (when not nil)
// with each streamed chunk, and returns the job's final result. It finds
// the result also when it was stored before Submit looked, so a job
// submitted twice (deduplicated by id) returns the stored result.
//
// Chunks and the result travel on different subjects: the result is the
// authority on the text, and onChunk may miss the tail if the caller
// subscribed late.
func (c *Conn) Submit(ctx context.Context, id string, payload []byte, onChunk func(job.Chunk)) (job.Result, error) {
	var res job.Result
	if err := CheckID(id); err != nil {
		return res, err
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
			return res, err
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
			return res, err
		}
	}
	if _, err := c.JS.Publish(ctx, c.Subjects.Job(id), payload, jetstream.WithMsgID(id)); err != nil {
		return res, fmt.Errorf("publish %s: %w", c.Subjects.Job(id), err)
	}
	cons, err := c.JS.OrderedConsumer(ctx, c.Subjects.ResultsStream(), jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{c.Subjects.Result(id)},
		DeliverPolicy:  jetstream.DeliverLastPerSubjectPolicy,
	})
	if err != nil {
		return res, err
	}
	for {
		wait := 30 * time.Second
		if d, ok := ctx.Deadline(); ok {
			wait = min(wait, time.Until(d))
		}
		if wait <= 0 || ctx.Err() != nil {
			return res, ErrNoResult
		}
		msg, err := cons.Next(jetstream.FetchMaxWait(wait))
		if err != nil {
			if errors.Is(err, nats.ErrTimeout) || errors.Is(err, jetstream.ErrNoMessages) || errors.Is(err, context.DeadlineExceeded) {
				continue
			}
			return res, err
		}
		if err := json.Unmarshal(msg.Data(), &res); err != nil {
			return res, fmt.Errorf("result of %s is not JSON: %w", id, err)
		}
		return res, nil
	}
}
