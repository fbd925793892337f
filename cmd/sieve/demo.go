package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sieve-project/sieve/internal/app"
	"github.com/sieve-project/sieve/internal/broker"
	"github.com/sieve-project/sieve/internal/config"
	"github.com/sieve-project/sieve/internal/modelgen"
	"github.com/sieve-project/sieve/job"
)

// demoReply is one scripted reply: a toy model that says these pieces,
// one token each, whatever it is asked.
type demoReply struct {
	prompt string
	pieces []string
	shows  string
	alts   map[string][]string // the model's runner-up pieces (modelgen.Scripted)
	then   map[string]string
}

var demoReplies = []demoReply{
	{"How was your day?", []string{"Well", ", ", "dar", "n it", ": the printer", " jammed", " again", ". What", " the", " he", "ck", "!"},
		`"darn" split over two tokens, redacted`, nil, nil},
	{"Say it louder.", []string{"Fine", ": ", "ＤＡ", "ＲＮ", " —", " full-width", " letters", " fool", " nobody", "."},
		"full-width letters, folded before matching", nil, nil},
	{"这份文件是什么？", []string{"这是", "一份", "\xe6\x9c", "\xba", "密", "文件", "，", "请", "勿", "外传", "。"},
		"a Chinese keyword, one character split over two byte tokens", nil, nil},
	{"What is the launch code?", []string{"Sure", ", the", " launch", " co", "de is", " 0000", "."},
		"a block rule: the reply stops, nothing of the match is published", nil, nil},
	{"How is my code?", []string{"Honestly", ", it", " is", " stu", "pid", " and", " slow", "."},
		"an avoid rule: the model goes back and says something else", map[string][]string{" is": {" clumsy"}}, map[string]string{" clumsy": " and"}},
}

// demoLists are the demo's keyword lists, as a configuration has them.
var demoLists = []config.List{
	{Name: "profanity", Action: "redact", Replacement: "****", Match: "word", Words: []string{"darn", "heck"}},
	{Name: "confidential", Action: "redact", Replacement: "[机密]", Words: []string{"机密"}},
	{Name: "secrets", Action: "block", Words: []string{"launch code"}}, // a block list keeps its words secret
	{Name: "tone", Action: "avoid", Match: "word", Words: []string{"stupid"}},
}

func runDemo(ctx context.Context, e env, args []string) int {
	fs := newFlagSet(e, "demo", "[flags]")
	var (
		pace     = fs.Duration("pace", 40*time.Millisecond, "pause between streamed pieces on screen, so a person can watch them arrive (0 = none)")
		cacheDir = fs.String("cache", "", "folder for the toy models (default: the user cache folder)")
	)
	if err := fs.Parse(args); err != nil {
		return flagError(err)
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return exitUsage
	}
	fail := func(err error) int {
		fmt.Fprintf(e.stderr, "sieve demo: %v\n", err)
		return exitFailure
	}
	dir, err := demoCache(*cacheDir)
	if err != nil {
		return fail(err)
	}
	log := newLogger(e, "warn", "text")
	// The system a user runs, in one process: an embedded NATS server with
	// JetStream on a free port, a worker, and a client that submits jobs.
	cfg := config.Default()
	cfg.Generate.Temperature = new(float64) // greedy
	cfg.Filter.Lists = demoLists
	cfg.Model = config.Model{Context: 512, Batch: 128, Threads: 1, Parallel: 1, PromptCache: true}
	local, err := broker.StartLocal(ctx, cfg.NATS, cfg.Queue, "sieve demo", log)
	if err != nil {
		return fail(err)
	}
	defer local.Close()
	conn, cons := local.Conn, local.Consumer

	fmt.Fprintf(e.stdout, demoIntro, conn.ClientURL(), dir)
	counts := map[job.Status]int{}
	hits := 0
	for i, d := range demoReplies {
		res, err := demoJob(ctx, e, conn, cons, cfg, log, dir, i, d, *pace)
		if err != nil {
			return fail(err)
		}
		printDemoResult(e, res)
		counts[res.Status]++
		hits += len(res.Filter.Output)
	}
	fmt.Fprintf(e.stdout, "\nSummary: %d replies, %d completed, %d filtered, %d filter hits.\n",
		len(demoReplies), counts[job.Completed], counts[job.Filtered], hits)
	fmt.Fprint(e.stdout, demoOutro)
	if counts[job.Completed]+counts[job.Filtered] != len(demoReplies) {
		return exitFailure
	}
	return exitOK
}

const demoIntro = `sieve demo: an embedded NATS server (%s) and an in-process worker.
Each reply comes from a built-in toy model (a few MB, in %s)
run by real llama.cpp; jobs go through JetStream, and every piece passes the keyword
filter before it is published. Lists: profanity (redact, whole words),
confidential (redact), secrets (block), tone (avoid: the model says something else).
`

const demoOutro = `
This was a toy. To serve a real model, download a GGUF file (for example a
CausalLM 14B Q4_K_M), set model.path in a config file (see README.md), and run
  sieve serve --config sieve.toml      and, from another shell,
  sieve submit --stream "hello"
`

// demoCache is the folder for the toy models: dir, or the user's cache.
func demoCache(dir string) (string, error) {
	if dir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			base = os.TempDir()
		}
		dir = filepath.Join(base, "sieve", "demo")
	}
	return dir, os.MkdirAll(dir, 0o755)
}

// printDemoResult says how a reply ended and what the filter did.
func printDemoResult(e env, res job.Result) {
	fmt.Fprintf(e.stdout, "\n    status %s, finish %s", res.Status, res.FinishReason)
	for _, h := range res.Filter.Output {
		switch {
		case h.Action == "avoid" && h.Token != nil:
			fmt.Fprintf(e.stdout, "; %s avoided: back to token %d (try %d, %d tokens taken back)", h.List, *h.Token, h.Tries, h.Discarded)
		case h.Keyword == "": // a hidden list
			fmt.Fprintf(e.stdout, "; %s %s at %d–%d", h.List, h.Action, h.Start, h.End)
		default:
			fmt.Fprintf(e.stdout, "; %s %s %q at %d–%d", h.List, h.Action, h.Keyword, h.Start, h.End)
		}
	}
	fmt.Fprintln(e.stdout)
}

// demoJob runs one reply: its toy model behind a worker, one job submitted
// over NATS, the chunks shown as they arrive.
func demoJob(ctx context.Context, e env, conn *broker.Conn, cons jetstream.Consumer,
	cfg config.Config, log *slog.Logger, dir string, i int, d demoReply, pace time.Duration) (job.Result, error) {
	var err error
	if cfg.Model.Path, err = demoModel(dir, d); err != nil {
		return job.Result{}, err
	}
	gen, err := app.Load(ctx, cfg, log)
	if err != nil {
		return job.Result{}, err
	}
	defer gen.Close()
	w, err := gen.StartWorker(ctx, conn, cons, app.WorkerOptions{Name: "demo"})
	if err != nil {
		return job.Result{}, err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		w.Shutdown(sctx)
	}()

	fmt.Fprintf(e.stdout, "\n[%d] %s\n    user> %s\n    sieve> ", i+1, d.shows, d.prompt)
	id := fmt.Sprintf("demo-%d-%d", os.Getpid(), i+1)
	payload, err := job.Marshal(job.Job{ID: id, Messages: []job.Message{{Role: job.RoleUser, Content: d.prompt}}})
	if err != nil {
		return job.Result{}, err
	}
	shown := ""
	jctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	res, err := conn.Submit(jctx, id, payload, func(c job.Chunk) {
		fmt.Fprint(e.stdout, c.Text)
		shown += c.Text
		if pace > 0 {
			select {
			case <-time.After(pace):
			case <-ctx.Done():
			}
		}
	})
	if err != nil {
		return res, err
	}
	if strings.HasPrefix(res.Text, shown) {
		fmt.Fprint(e.stdout, res.Text[len(shown):])
	}
	return res, nil
}

// demoModel writes the toy model for pieces once; later runs reuse it.
func demoModel(dir string, d demoReply) (string, error) {
	s := modelgen.Scripted{Pieces: d.pieces, Alternatives: d.alts, Then: d.then}
	key, err := json.Marshal(s)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(key)
	path := filepath.Join(dir, "toy-"+hex.EncodeToString(sum[:6])+".gguf")
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	tmp := path + ".tmp"
	if err := modelgen.WriteScripted(tmp, s); err != nil {
		return "", err
	}
	return path, os.Rename(tmp, path)
}
