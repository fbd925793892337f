package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"

	"github.com/sieve-project/sieve/internal/config"
)

// Exit statuses.
const (
	exitOK      = 0
	exitFailure = 1 // the work failed at run time
	exitUsage   = 2 // bad flags, arguments or configuration
	exitBlocked = 3 // a block rule fired (check)
)

// env is what a subcommand may touch of the outside world.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

type command struct {
	summary string
	run     func(ctx context.Context, e env, args []string) int
}

func commands() map[string]command {
	return map[string]command{
		"generate": {"generate a moderated reply to a prompt, locally", runGenerate},
		"check":    {"run the keyword filter over a file or standard input", runCheck},
		"lists":    {"lint keyword lists against clean text (lists lint): what fires most, what may over-match", runLists},
		"batch":    {"run a file of jobs to a file of results, resumably", runBatch},
		"bench":    {"measure a model's speed: concurrency, NATS end to end, first token, memory", runBench},
		"serve":    {"serve jobs from NATS (embedded server unless nats.url is set)", runServe},
		"gateway":  {"serve the OpenAI-compatible HTTP door in front of remote workers", runGateway},
		"submit":   {"submit a job to a running sieve and print its result", runSubmit},
		"demo":     {"show sieve at work on a built-in toy model", runDemo},
		"config":   {"check a configuration file (config check FILE), or print an example (config example)", runConfig},
		"version":  {"print the version and the llama.cpp commit", runVersion},
	}
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := env{stdin: stdin, stdout: stdout, stderr: stderr}
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	cmd, ok := commands()[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "sieve: unknown command %q (run \"sieve help\")\n", args[0])
		return exitUsage
	}
	return cmd.run(ctx, e, args[1:])
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "sieve: a local LLM behind a keyword filter\n\nUsage: sieve COMMAND [flags] [args]\n\nCommands:")
	cmds := commands()
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w, "\nRun \"sieve COMMAND -h\" for a command's flags.")
}

// parseInterspersed parses flags that may come before, between or after
// positional arguments, as users type them; "--" ends the flags.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		// flag.Parse stops at the first non-flag, or after "--".
		consumed := len(args) - len(rest)
		if consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

func newFlagSet(e env, name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "Usage: sieve %s %s\n\nFlags:\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// flagError returns the exit status for a flag parsing error: -h is not a
// failure.
func flagError(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	return exitUsage
}

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// loadConfig reads the file named by --config, or the defaults when none.
func loadConfig(e env, path string) (config.Config, bool) {
	if path == "" {
		return config.Default(), true
	}
	c, err := config.Load(path)
	if err != nil {
		fmt.Fprintf(e.stderr, "sieve: %v\n", err)
		return c, false
	}
	return c, true
}

// loadModelConfig loads the configuration for a command that runs a
// model: --model overrides model.path, which is relative to the file.
func loadModelConfig(e env, cmd, cfgPath, model string) (config.Config, bool) {
	cfg, ok := loadConfig(e, cfgPath)
	if !ok {
		return cfg, false
	}
	if model != "" {
		cfg.Model.Path = model
	} else {
		cfg.Model.Path = cfg.Resolve(cfg.Model.Path)
	}
	if cfg.Model.Path == "" {
		fmt.Fprintf(e.stderr, "sieve %s: no model: pass --model PATH or set model.path in --config\n", cmd)
		return cfg, false
	}
	return cfg, true
}

// newLogger makes sieve's logger, on stderr. llama.cpp's own log lines go
// through the default slog logger (the binding asks it whether a level is
// on), so the default is set to show them only at debug level: its chatter,
// warnings included, would drown sieve's own lines, and its continuation
// lines (progress dots) arrive at a level above error. sieve reports what
// went wrong itself.
func newLogger(e env, level, format string) *slog.Logger {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		lv = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: lv}
	var h slog.Handler = slog.NewTextHandler(e.stderr, opts)
	if format == "json" {
		h = slog.NewJSONHandler(e.stderr, opts)
	}
	llamaLevel := slog.Level(100)
	if lv <= slog.LevelDebug {
		llamaLevel = slog.LevelDebug
	}
	slog.SetDefault(slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: llamaLevel})))
	return slog.New(h)
}

func readAllLimited(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxCheckInput+1))
	if err == nil && len(b) > maxCheckInput {
		err = fmt.Errorf("input is over %d MiB", maxCheckInput>>20)
	}
	return b, err
}
