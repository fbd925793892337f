package worker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sieve-project/sieve/internal/broker"
	"github.com/sieve-project/sieve/internal/config"
	"github.com/sieve-project/sieve/internal/engine"
	"github.com/sieve-project/sieve/internal/filter"
	"github.com/sieve-project/sieve/internal/modelgen"
	"github.com/sieve-project/sieve/internal/pipeline"
	"github.com/sieve-project/sieve/internal/policy"
	"github.com/sieve-project/sieve/internal/worker"
	"github.com/sieve-project/sieve/job"
)

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// cluster starts n JetStream nodes routed to each other on loopback, with
// the least-privilege users, as testdata/cluster/nats-node.conf sets up a
// machine of a real cluster, and returns them with a URL list of all.
func cluster(t *testing.T, n int) ([]*server.Server, string) {
	t.Helper()
	perms, err := os.ReadFile("../../testdata/nats/least-privilege.conf")
	if err != nil {
		t.Fatal(err)
	}
	client, routes := make([]int, n), make([]string, n)
	for i := range client {
		client[i] = freePort(t)
		routes[i] = fmt.Sprintf("nats://127.0.0.1:%d", freePort(t))
	}
	var nodes []*server.Server
	var urls []string
	for i := 0; i < n; i++ {
		dir := t.TempDir()
		conf := filepath.Join(dir, "node.conf")
		body := fmt.Sprintf(`%s
server_name: n%d
listen: "127.0.0.1:%d"
jetstream { store_dir: %q }
cluster {
  name: sieve-test
  listen: %q
  routes: [%s]
}
`, perms, i, client[i], filepath.Join(dir, "js"), strings.TrimPrefix(routes[i], "nats://"), strings.Join(routes, ", "))
		if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		o, err := server.ProcessConfigFile(conf)
		if err != nil {
			t.Fatal(err)
		}
		o.NoLog, o.NoSigs = true, true
		ns, err := server.NewServer(o)
		if err != nil {
			t.Fatal(err)
		}
		go ns.Start()
		t.Cleanup(ns.Shutdown)
		nodes = append(nodes, ns)
		urls = append(urls, fmt.Sprintf("nats://127.0.0.1:%d", client[i]))
	}
	for _, ns := range nodes {
		if !ns.ReadyForConnections(20 * time.Second) {
			t.Fatal("node not ready")
		}
	}
	// JetStream is up when the cluster has a meta leader.
	nc, err := nats.Connect(strings.Join(urls, ","), nats.UserInfo("tenant-a", "tenant-a-secret"), nats.CustomInboxPrefix("_INBOX_tenant-a"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := js.AccountInfo(ctx)
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("JetStream cluster not ready: %v", err)
		}
	}
	return nodes, strings.Join(urls, ",")
}

// clusterWorker starts a worker on its own engine, connected to urls.
func clusterWorker(t *testing.T, urls string, q config.Queue, name string) (*worker.Worker, *broker.Conn) {
	t.Helper()
	conn, err := broker.Connect(context.Background(), config.NATS{URL: urls, Prefix: "sieve", Replicas: 3,
		User: "worker", Password: "worker-secret", InboxPrefix: "_INBOX_worker"}, "", name, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cons, err := conn.Setup(ctx, q, 3)
	if err != nil {
		t.Fatal(err)
	}
	eng, flt := scriptedEngine(t, []string{"one", " two", " three", "."})
	g := config.Default().Generate
	g.Temperature = new(0.0) // greedy
	w, err := worker.Start(context.Background(), worker.Config{
		Conn: conn, Consumer: cons, Queue: q, Parallel: 2, Name: name, Version: "0.0.0",
		Runner: &pipeline.Runner{Engine: eng, Policies: policy.Static(flt), Defaults: g, Limits: pipeline.Limits(g, q)},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		w.Shutdown(ctx)
	})
	return w, conn
}

// TestClusterLosesNoJob: three nodes, streams with three replicas, two
// workers and a submitter with the least-privilege credentials, a few
// hundred jobs. Midway the node leading the jobs stream
// goes down, and so does a worker (its connection cut, its jobs unacked);
// every job still ends in exactly one result.
func TestClusterLosesNoJob(t *testing.T) {
	if testing.Short() {
		t.Skip("a three-node cluster: not in -short")
	}
	nodes, urls := cluster(t, 3)
	q := config.Default().Queue
	q.AckWait = config.Duration{Duration: 2 * time.Second}
	q.Backoff = []config.Duration{{Duration: 100 * time.Millisecond}}
	// Retries come fast here (100 ms, where the default backoff waits
	// 1 s, 5 s, 30 s), so a job retried while the downed node's streams
	// elect new leaders can spend max_deliver's default 5 deliveries in
	// a second on a loaded machine and end failed (max_deliver), which
	// is the contract but not what this test is about: losing no job.
	q.MaxDeliver = 20
	_, doomed := clusterWorker(t, urls, q, "w1")
	clusterWorker(t, urls, q, "w2")

	client, err := nats.Connect(urls, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond),
		nats.UserInfo("tenant-a", "tenant-a-secret"), nats.CustomInboxPrefix("_INBOX_tenant-a"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.Close)
	js, _ := jetstream.New(client)
	const jobs = 240
	for i := 0; i < jobs; i++ {
		id := fmt.Sprintf("tenant-a.c%d", i)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := js.Publish(ctx, "sieve.jobs."+id, []byte(`{"messages":[{"role":"user","content":"count"}]}`), jetstream.WithMsgID(id))
		cancel()
		if err != nil {
			t.Fatalf("publish %s: %v", id, err)
		}
	}

	// Read results as they come, as the reader (an auditor) does;
	// midway, take a node and a worker down.
	reader, err := nats.Connect(urls, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond),
		nats.UserInfo("reader", "reader-secret"), nats.CustomInboxPrefix("_INBOX_reader"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(reader.Close)
	rjs, _ := jetstream.New(reader)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cons, err := rjs.OrderedConsumer(ctx, "SIEVE_RESULTS", jetstream.OrderedConsumerConfig{FilterSubjects: []string{"sieve.results.tenant-a.>"}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	var downed string
	for len(got) < jobs {
		msg, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
		if err != nil {
			if ctx.Err() != nil {
				t.Fatalf("%d of %d jobs have a result after %s down: %v", len(got), jobs, downed, err)
			}
			continue
		}
		var r job.Result
		if err := json.Unmarshal(msg.Data(), &r); err != nil || r.Status != job.Completed || r.Text != "one two three." {
			t.Fatalf("result %q (%v)", msg.Data(), err)
		}
		got[r.ID]++
		if len(got) == jobs/3 && downed == "" {
			for _, ns := range nodes {
				if ns.JetStreamIsStreamLeader(server.DEFAULT_GLOBAL_ACCOUNT, "SIEVE_JOBS") {
					downed = ns.Name()
					ns.Shutdown()
					break
				}
			}
			if downed == "" {
				t.Fatal("no node leads SIEVE_JOBS")
			}
			doomed.NC.Close() // a worker that dies: its running jobs stay unacked
			t.Logf("after %d results: node %s (the jobs stream's leader) and worker w1 are down", len(got), downed)
		}
	}
	for id, n := range got {
		if n != 1 {
			t.Errorf("job %s has %d results", id, n)
		}
	}
	// And no more arrive: nothing is left in the queue to run twice.
	if msg, err := cons.Next(jetstream.FetchMaxWait(time.Second)); err == nil {
		t.Errorf("a result past the %d: %q", jobs, msg.Data())
	}
}

// scriptedEngine loads a scripted model that says pieces, with two slots,
// and compiles the test lists: what a worker of the multi-node tests
// runs. t's cleanup unloads it.
func scriptedEngine(t *testing.T, pieces []string) (engine.Engine, *filter.Filter) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "m.gguf")
	if err := modelgen.WriteScripted(path, modelgen.Scripted{Pieces: pieces}); err != nil {
		t.Fatal(err)
	}
	eng, err := engine.Load(context.Background(), engine.Config{ModelPath: path, Context: 512, Batch: 64, Threads: 1, Parallel: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	flt, err := filter.Compile(lists, filter.Options{Normalize: true})
	if err != nil {
		t.Fatal(err)
	}
	return eng, flt
}
