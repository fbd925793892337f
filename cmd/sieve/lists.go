package main

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"slices"
	"text/tabwriter"
	"unicode/utf8"

	"github.com/sieve-project/sieve/internal/filter"
	"github.com/sieve-project/sieve/internal/policy"
	"github.com/sieve-project/sieve/job"
)

func runLists(_ context.Context, e env, args []string) int {
	if len(args) == 0 || args[0] != "lint" {
		fmt.Fprintln(e.stderr, "Usage: sieve lists lint --config FILE [flags] CORPUS...")
		return exitUsage
	}
	fs := newFlagSet(e, "lists lint", "--config FILE [flags] CORPUS...")
	var (
		cfgPath = fs.String("config", "", "configuration `file` whose [[filter.lists]] to lint (required)")
		polName = fs.String("policy", "", "lint only this policy's lists (default: every list)")
		top     = fs.Int("top", 20, "show the `n` entries that fire most, and that strict widens most")
		asJSON  = fs.Bool("json", false, "print the report as JSON")
	)
	pos, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return flagError(err)
	}
	if *cfgPath == "" || len(pos) == 0 {
		fmt.Fprintln(e.stderr, "sieve lists lint: give --config FILE and one or more CORPUS files of clean text")
		return exitUsage
	}
	cfg, ok := loadConfig(e, *cfgPath)
	if !ok {
		return exitUsage
	}
	specs, opts := policy.Specs(cfg)
	if *polName != "" {
		members, ok := cfg.Filter.Policies[*polName]
		if !ok && *polName != policy.Default {
			fmt.Fprintf(e.stderr, "sieve lists lint: --policy %q is not in [filter.policies]\n", *polName)
			return exitUsage
		}
		if ok {
			specs = slices.DeleteFunc(specs, func(s filter.ListSpec) bool { return !slices.Contains(members, s.Name) })
		}
	}
	corpus, err := readCorpus(pos)
	if err != nil {
		fmt.Fprintf(e.stderr, "sieve lists lint: %v\n", err)
		return exitUsage
	}
	rep, err := filter.Lint(specs, opts, corpus)
	if err != nil {
		fmt.Fprintf(e.stderr, "sieve lists lint: %v\n", err)
		return exitUsage
	}
	if *asJSON {
		b, _ := job.MarshalIndent(rep, "", "  ")
		fmt.Fprintln(e.stdout, string(b))
		return exitOK
	}
	printLint(e, rep, *top)
	return exitOK
}

// readCorpus reads the clean texts, each valid UTF-8 and within
// maxCheckInput.
func readCorpus(names []string) ([]string, error) {
	var corpus []string
	for _, name := range names {
		data, err := os.ReadFile(name)
		switch {
		case err != nil:
			return nil, err
		case len(data) > maxCheckInput:
			return nil, fmt.Errorf("%s is over %d MiB; split it", name, maxCheckInput>>20)
		case !utf8.Valid(data):
			return nil, fmt.Errorf("%s is not valid UTF-8", name)
		}
		corpus = append(corpus, string(data))
	}
	return corpus, nil
}

func printLint(e env, rep filter.LintReport, top int) {
	fmt.Fprintf(e.stdout, "%d entries matched the corpus; the %d that matched most:\n", len(rep.Fired), min(top, len(rep.Fired)))
	tw := tabwriter.NewWriter(e.stdout, 2, 4, 2, ' ', 0)
	for _, f := range rep.Fired[:min(top, len(rep.Fired))] {
		fmt.Fprintf(tw, "  %s\t%s\t%d\n", f.List, cmp.Or(f.Entry, "(hidden list)"), f.Hits)
	}
	tw.Flush()
	fmt.Fprintf(e.stdout, "\n%d warnings:\n", len(rep.Warnings))
	for _, w := range rep.Warnings {
		if w.Entry != "" {
			fmt.Fprintf(e.stdout, "  list %q %s: %q: %s\n", w.List, w.Pos, w.Entry, w.Why)
		} else {
			fmt.Fprintf(e.stdout, "  list %q %s: %s\n", w.List, w.Pos, w.Why)
		}
	}
	wide := rep.WidenedByStrict
	fmt.Fprintf(e.stdout, "\n%d entries of strict lists match more with strict than without; the %d widened most (hits plain, strict):\n", len(wide), min(top, len(wide)))
	for _, w := range wide[:min(top, len(wide))] {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%d\t%d\n", w.List, w.Pos, cmp.Or(w.Entry, "(hidden list)"), w.Plain, w.Strict)
	}
	tw.Flush()
}
