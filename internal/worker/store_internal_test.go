package worker

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sieve-project/sieve/internal/broker"
	"github.com/sieve-project/sieve/internal/config"
	"github.com/sieve-project/sieve/job"
)

// settled records how storeAndAck settled a job message; the methods storeAndAck
// does not call are the embedded nil interface's.
type settled struct {
	jetstream.Msg
	how []string
}

func (m *settled) Ack() error                       { m.how = append(m.how, "ack"); return nil }
func (m *settled) DoubleAck(context.Context) error  { m.how = append(m.how, "ack"); return nil }
func (m *settled) Term() error                      { m.how = append(m.how, "term"); return nil }
func (m *settled) NakWithDelay(time.Duration) error { m.how = append(m.how, "nak"); return nil }
func (m *settled) TermWithReason(string) error      { return m.Term() }
func (m *settled) Nak() error                       { return m.NakWithDelay(0) }
func (m *settled) InProgress() error                { return nil }
func (m *settled) Metadata() (*jetstream.MsgMetadata, error) {
	return &jetstream.MsgMetadata{NumDelivered: 1}, nil
}

// TestStoreAndAckStoresOnce: a result published again within the duplicate
// window (two runs of one job, the first confirmed late) is stored once
// and counted once: the second storeAndAck reports it stored before, as one
// that finds another run's result does.
func TestStoreAndAckStoresOnce(t *testing.T) {
	l, err := broker.StartLocal(context.Background(), config.Default().NATS, config.Default().Queue, "test", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	w := &Worker{cfg: Config{Conn: l.Conn, Queue: config.Default().Queue, Name: "test/1"}, log: slog.New(slog.DiscardHandler), subj: l.Conn.Subjects, jobsCtx: context.Background()}
	res := job.Ended(job.Job{ID: "once"}, job.Completed, "stop", nil)
	now := time.Now()
	for i, want := range []stored{storedNow, storedBefore, storedBefore} {
		m := &settled{}
		if i == 2 {
			res.Text = "another run's text" // not a duplicate message: the id's result stands
		}
		if got := w.storeAndAck(m, w.log, res, 1, now, now); got != want || len(m.how) != 1 || m.how[0] != "ack" {
			t.Fatalf("storeAndAck %d: %v, settled %v; want %v, acked", i+1, got, m.how, want)
		}
	}
	stored, err := w.resultStored("once")
	if err != nil || !stored {
		t.Fatalf("stored %v, %v", stored, err)
	}
}
