package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sieve-project/sieve/chatml"
	"github.com/sieve-project/sieve/config"
	"github.com/sieve-project/sieve/engine"
	"github.com/sieve-project/sieve/engine/testmodel"
	"github.com/sieve-project/sieve/filter"
	"github.com/sieve-project/sieve/job"
	"github.com/sieve-project/sieve/pipeline"
)

// demoReply is one scripted reply: a toy model that says these pieces,
// one token each, whatever it is asked.
type demoReply struct {
	prompt string
	pieces []string
	shows  string
}

var demoReplies = []demoReply{
	{"How was your day?", []string{"Well", ", ", "dar", "n it", ": the printer", " jammed", " again", ". What", " the", " he", "ck", "!"},
		`"darn" split over two tokens, redacted`},
	{"Say it louder.", []string{"Fine", ": ", "ＤＡ", "ＲＮ", " —", " full-width", " letters", " fool", " nobody", "."},
		"full-width letters, folded before matching"},
	{"这份文件是什么？", []string{"这是", "一份", "\xe6\x9c", "\xba", "密", "文件", "，", "请", "勿", "外传", "。"},
		"a Chinese keyword, one character split over two byte tokens"},
	{"What is the launch code?", []string{"Sure", ", the", " launch", " co", "de is", " 0000", "."},
		"a block rule: the reply stops, nothing of the match is published"},
}

var demoLists = []filter.ListSpec{
	{Name: "profanity", Action: filter.Redact, Replacement: "****", Match: filter.Word, Words: []string{"darn", "heck"}, Source: "demo"},
	{Name: "confidential", Action: filter.Redact, Replacement: "[机密]", Words: []string{"机密"}, Source: "demo"},
	{Name: "secrets", Action: filter.Block, Words: []string{"launch code"}, Source: "demo"},
}

func runDemo(ctx context.Context, e env, args []string) int {
	fs := newFlagSet(e, "demo", "[flags]")
	var (
		pace     = fs.Duration("pace", 40*time.Millisecond, "pause between streamed pieces, so a person can watch them arrive (0 = none)")
		cacheDir = fs.String("cache", "", "folder for the toy models (default: the user cache folder)")
	)
	if err := fs.Parse(args); err != nil {
		return flagError(err)
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return exitUsage
	}
	dir := *cacheDir
	if dir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			base = os.TempDir()
		}
		dir = filepath.Join(base, "sieve", "demo")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		fmt.Fprintf(e.stderr, "sieve demo: %v\n", err)
		return exitFailure
	}
	log := newLogger(e, "warn", "text")
	flt, err := filter.Compile(demoLists, filter.Options{Normalize: true})
	if err != nil {
		fmt.Fprintf(e.stderr, "sieve demo: %v\n", err)
		return exitFailure
	}
	holder := filter.NewHolder(flt)

	fmt.Fprintln(e.stdout, "sieve demo: a built-in toy model (a few MB, written to "+dir+") says scripted")
	fmt.Fprintln(e.stdout, "replies through real llama.cpp; every piece passes the keyword filter before it")
	fmt.Fprintln(e.stdout, "is shown. Lists: profanity (redact, whole words), confidential (redact), secrets (block).")
	counts := map[job.Status]int{}
	hits := 0
	for i, d := range demoReplies {
		path, err := demoModel(dir, d.pieces)
		if err != nil {
			fmt.Fprintf(e.stderr, "sieve demo: %v\n", err)
			return exitFailure
		}
		cfg := config.Default()
		eng, err := engine.Load(ctx, engine.Config{ModelPath: path, Context: 512, Batch: 128, Threads: 1, Parallel: 1}, engine.WithLogger(log))
		if err != nil {
			fmt.Fprintf(e.stderr, "sieve demo: %v\n", err)
			return exitFailure
		}
		cfg.Generate.Temperature = 0
		r := pipeline.Runner{Engine: eng, Filters: holder, Defaults: cfg.Generate, Log: log}
		fmt.Fprintf(e.stdout, "\n[%d] %s\n    user> %s\n    sieve> ", i+1, d.shows, d.prompt)
		res := r.Run(ctx, job.Job{ID: fmt.Sprintf("demo-%d", i+1), Messages: []chatml.Message{{Role: chatml.User, Content: d.prompt}}},
			func(s string) error {
				fmt.Fprint(e.stdout, s)
				if *pace > 0 {
					select {
					case <-time.After(*pace):
					case <-ctx.Done():
					}
				}
				return nil
			})
		eng.Close()
		fmt.Fprintf(e.stdout, "\n    status %s, finish %s", res.Status, res.FinishReason)
		for _, h := range res.Filter.Output {
			fmt.Fprintf(e.stdout, "; %s %s %q at %d–%d", h.List, h.Action, h.Keyword, h.Start, h.End)
		}
		fmt.Fprintln(e.stdout)
		counts[res.Status]++
		hits += len(res.Filter.Output)
		if ctx.Err() != nil {
			fmt.Fprintln(e.stderr, "sieve demo: interrupted")
			return exitFailure
		}
	}
	fmt.Fprintf(e.stdout, "\nSummary: %d replies, %d completed, %d filtered, %d filter hits.\n",
		len(demoReplies), counts[job.Completed], counts[job.Filtered], hits)
	fmt.Fprintln(e.stdout, "\nThis was a toy. To serve a real model, download a GGUF file (for example a")
	fmt.Fprintln(e.stdout, "CausalLM 14B Q4_K_M) and run:  sieve generate --model PATH/TO/model.gguf \"hello\"")
	fmt.Fprintln(e.stdout, "or set model.path in a config file (see README.md).")
	if counts[job.Completed]+counts[job.Filtered] != len(demoReplies) {
		return exitFailure
	}
	return exitOK
}

// demoModel writes the toy model for pieces once; later runs reuse it.
func demoModel(dir string, pieces []string) (string, error) {
	sum := sha256.Sum256([]byte(strings.Join(pieces, "\x00")))
	path := filepath.Join(dir, "toy-"+hex.EncodeToString(sum[:6])+".gguf")
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	tmp := path + ".tmp"
	if err := testmodel.WriteScripted(tmp, testmodel.Scripted{Pieces: pieces}); err != nil {
		return "", err
	}
	return path, os.Rename(tmp, path)
}
