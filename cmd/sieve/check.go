package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"unicode/utf8"

	"github.com/sieve-project/sieve/internal/filter"
	"github.com/sieve-project/sieve/internal/policy"
	"github.com/sieve-project/sieve/job"
)

// maxCheckInput bounds what check reads, so a mistaken pipe cannot eat
// the machine's memory.
const maxCheckInput = 64 << 20

func runCheck(_ context.Context, e env, args []string) int {
	fs := newFlagSet(e, "check", "[flags] [FILE|-]")
	var (
		cfgPath = fs.String("config", "", "configuration `file` whose [[filter.lists]] apply (required)")
		side    = fs.String("apply-to", "output", "which lists apply: output or input")
		polName = fs.String("policy", policy.Default, "policy (a set of lists, [filter.policies]) to apply")
		asJSON  = fs.Bool("json", false, `print {"text", "hits", "blocked"} as JSON`)
	)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return flagError(err)
	}
	if len(pos) > 1 {
		fmt.Fprintln(e.stderr, "sieve check: give at most one FILE (or - for standard input)")
		return exitUsage
	}
	if *side != string(filter.Output) && *side != string(filter.Input) {
		fmt.Fprintf(e.stderr, "sieve check: --apply-to %q: want output or input\n", *side)
		return exitUsage
	}
	if *cfgPath == "" {
		fmt.Fprintln(e.stderr, "sieve check: no lists: pass --config FILE with [[filter.lists]]")
		return exitUsage
	}
	cfg, ok := loadConfig(e, *cfgPath)
	if !ok {
		return exitUsage
	}
	pols, err := policy.Load(cfg)
	if err != nil {
		fmt.Fprintf(e.stderr, "sieve check: %v\n", err)
		return exitUsage
	}
	pol, err := pols.Lookup(*polName)
	if err != nil {
		fmt.Fprintf(e.stderr, "sieve check: --policy: %v\n", err)
		return exitUsage
	}

	data, err := readCheckInput(e, pos)
	if err != nil {
		fmt.Fprintf(e.stderr, "sieve check: %v\n", err)
		return exitUsage
	}
	res := pol.Filter().Check(filter.Where(*side), string(data))
	if *asJSON {
		b, _ := job.Marshal(res)
		fmt.Fprintln(e.stdout, string(b))
	} else {
		fmt.Fprint(e.stdout, res.Text)
	}
	if res.Blocked {
		return exitBlocked
	}
	return exitOK
}

// readCheckInput reads the FILE, or standard input: valid UTF-8, within
// maxCheckInput.
func readCheckInput(e env, pos []string) ([]byte, error) {
	in, name := e.stdin, "standard input"
	if len(pos) == 1 && pos[0] != "-" {
		f, err := os.Open(pos[0])
		if err != nil {
			return nil, err
		}
		defer f.Close()
		in, name = f, pos[0]
	}
	data, err := io.ReadAll(io.LimitReader(in, maxCheckInput+1))
	switch {
	case err != nil:
		return nil, fmt.Errorf("read %s: %w", name, err)
	case len(data) > maxCheckInput:
		return nil, fmt.Errorf("%s is over %d MiB", name, maxCheckInput>>20)
	case !utf8.Valid(data):
		return nil, fmt.Errorf("%s is not valid UTF-8", name)
	}
	return data, nil
}
