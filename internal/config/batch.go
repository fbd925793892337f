package config

import (
	"bytes"
	"fmt"
	"os"
	"sort"

	"github.com/BurntSushi/toml"

	"github.com/sieve-project/sieve/job"
)

// Batch is a batch run's specification file.
type Batch struct {
	Inputs   []string `toml:"inputs"`    // JSONL files, one job a line
	Output   string   `toml:"output"`    // JSONL results; rerunning skips ids already there
	Ordered  bool     `toml:"ordered"`   // write results in input order
	InFlight int      `toml:"in_flight"` // jobs submitted and not yet finished
	Server   string   `toml:"server"`    // NATS URL; empty: embedded server and an in-process worker
	Timeout  Duration `toml:"timeout"`   // how long to wait for one job's result

	// Defaults for jobs that do not say.
	System    string `toml:"system"`
	Policy    string `toml:"policy"`
	MaxTokens *int   `toml:"max_tokens"`
	job.Sampling
	Stop []string `toml:"stop"`

	File string `toml:"-"`
}

// LoadBatch reads and validates a batch specification; paths in it are
// relative to its folder (see Resolve).
func LoadBatch(path string) (Batch, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Batch{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	b := Batch{InFlight: 4, Timeout: Duration{Duration: 10 * 60e9}, File: path}
	md, err := toml.NewDecoder(bytes.NewReader(data)).Decode(&b)
	if err != nil {
		return Batch{}, Problems{decodeProblem(path, err)}
	}
	lines := indexLines(data)
	var ps Problems
	for _, k := range md.Undecoded() {
		ps = append(ps, Problem{File: path, Line: lines.find(k.String()), Key: k.String(), Msg: "unknown key"})
	}
	bad := func(key, format string, args ...any) {
		ps = append(ps, Problem{File: path, Line: lines.find(key), Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	if len(b.Inputs) == 0 {
		bad("inputs", "name at least one JSONL file of jobs")
	}
	if b.Output == "" {
		bad("output", "name the JSONL file results go to")
	}
	if b.InFlight < 1 || b.InFlight > 10000 {
		bad("in_flight", "%d: want 1 to 10000", b.InFlight)
	}
	if b.Timeout.Duration < 1e9 {
		bad("timeout", "%s: want at least 1s", b.Timeout)
	}
	for _, p := range b.Sampling.Problems() {
		bad(p.Field, "%s: want %s", p.Value, p.Want)
	}
	for i, s := range b.Stop {
		if s == "" {
			bad("stop", "stop[%d] is empty", i)
		}
	}
	if len(ps) > 0 {
		sort.SliceStable(ps, func(i, j int) bool { return ps[i].Line < ps[j].Line })
		return Batch{}, ps
	}
	return b, nil
}

// Resolve returns p relative to the specification's folder.
func (b Batch) Resolve(p string) string { return Config{File: b.File}.Resolve(p) }
