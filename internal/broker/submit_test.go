package broker

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sieve-project/sieve/internal/config"
	"github.com/sieve-project/sieve/job"
)

// TestSubmitRelaysEveryChunkBeforeReturning: however fast the chunks come
// before the result, Submit hands each to onChunk, in order, and none
// after it returns.
func TestSubmitRelaysEveryChunkBeforeReturning(t *testing.T) {
	local, err := StartLocal(context.Background(), config.Default().NATS, config.Default().Queue, "test", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(local.Close)
	// A stand-in worker on a connection of its own: as soon as the job
	// is queued, 500 chunks and then the result.
	wc, err := nats.Connect(local.Conn.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(wc.Close)
	js, err := jetstream.New(wc)
	if err != nil {
		t.Fatal(err)
	}
	subj := local.Conn.Subjects
	for round := 0; round < 5; round++ {
		id := fmt.Sprintf("chunks-%d", round)
		jobSub, err := wc.SubscribeSync(subj.Job(id))
		if err != nil {
			t.Fatal(err)
		}
		if err := wc.Flush(); err != nil { // the server knows of it
			t.Fatal(err)
		}
		var want strings.Builder
		published := make(chan struct{})
		go func() {
			defer close(published)
			if _, err := jobSub.NextMsg(10 * time.Second); err != nil {
				t.Errorf("no job: %v", err)
				return
			}
			for i := 0; i < 500; i++ {
				text := fmt.Sprintf("<%d>", i)
				want.WriteString(text)
				b, _ := json.Marshal(job.Chunk{ID: id, Seq: i + 1, Text: text})
				wc.Publish(subj.Stream(id), b)
			}
			b, _ := json.Marshal(job.Result{ID: id, Status: job.Completed, Text: want.String()})
			if _, err := js.Publish(context.Background(), subj.Result(id), b); err != nil {
				t.Errorf("store the result: %v", err)
			}
		}()
		var returned atomic.Bool
		var got strings.Builder
		res, err := local.Conn.Submit(context.Background(), id, []byte(`{}`), func(c job.Chunk) {
			if returned.Load() {
				t.Errorf("chunk %d relayed after Submit returned", c.Seq)
			}
			got.WriteString(c.Text)
		})
		returned.Store(true)
		<-published
		if err != nil {
			t.Fatal(err)
		}
		if got.String() != res.Text {
			t.Fatalf("round %d: chunks gave %d bytes, the result has %d", round, got.Len(), len(res.Text))
		}
		jobSub.Unsubscribe()
	}
}
