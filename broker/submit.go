package broker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
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
	var mu sync.Mutex // onChunk runs on the subscription's goroutine
	if onChunk != nil {
		sub, err := c.NC.Subscribe(c.Subjects.Stream(id), func(m *nats.Msg) {
			var ch job.Chunk
			if json.Unmarshal(m.Data, &ch) == nil {
				mu.Lock()
				onChunk(ch)
				mu.Unlock()
			}
		})
		if err != nil {
			return res, err
		}
		defer sub.Unsubscribe()
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
		// Let chunks already on the wire reach onChunk before returning.
		c.NC.Flush()
		mu.Lock()
		defer mu.Unlock()
		return res, nil
	}
}
