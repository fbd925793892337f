// Package config reads sieve's TOML configuration: the schema, its
// defaults, and validation whose every error names the file, the line and
// the key, so an operator can fix a whole file in one pass.
//
// Decoding is strict: an unknown key is an error, not a silent default.
// The package knows nothing of NATS or llama.cpp; it only says what the
// operator asked for.
package config

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/sieve-project/sieve/job"
)

// Config is the whole configuration file.
type Config struct {
	Model    Model    `toml:"model"`
	Generate Generate `toml:"generate"`
	NATS     NATS     `toml:"nats"`
	Queue    Queue    `toml:"queue"`
	Filter   Filter   `toml:"filter"`
	Metrics  Metrics  `toml:"metrics"`
	HTTP     HTTP     `toml:"http"`
	Log      Log      `toml:"log"`

	// File is the path the configuration was read from, if any; relative
	// paths in it (model, lists, data) are relative to its folder.
	File string `toml:"-"`
}

// Model says which GGUF file to run and how.
type Model struct {
	Path      string `toml:"path"`
	GPULayers int    `toml:"gpu_layers"` // -1 = all
	Context   int    `toml:"context"`    // tokens, shared by all slots
	Batch     int    `toml:"batch"`      // prompt tokens per decode step
	Threads   int    `toml:"threads"`    // 0 = one per physical core
	Parallel  int    `toml:"parallel"`   // jobs generated at the same time
	// DecodeNice lowers the priority of the decode threads (Linux), so
	// the daemon's NATS and streaming work is not kept waiting by them;
	// -1 chooses (engine.AutoNice).
	DecodeNice int `toml:"decode_nice"`
	// PromptCache keeps finished jobs' KV cells for jobs that begin the
	// same way (a shared system prompt is computed once);
	// PromptCacheTokens adds KV cells for it beyond Context.
	PromptCache       bool `toml:"prompt_cache"`
	PromptCacheTokens int  `toml:"prompt_cache_tokens"`
}

// Generate holds the defaults a job may override. Its sampling settings
// are a job's own type: every one but seed has a default (Default), so
// after loading only Seed may be nil (a random seed per job).
type Generate struct {
	System         string `toml:"system"`
	MaxTokens      int    `toml:"max_tokens"`
	MaxTokensLimit int    `toml:"max_tokens_limit"`
	job.Sampling
}

// NATS says where the message bus is, or where to start the embedded one.
type NATS struct {
	URL          string `toml:"url"`
	Listen       string `toml:"listen"`
	DataDir      string `toml:"data_dir"`
	Prefix       string `toml:"prefix"`
	User         string `toml:"user"`
	Password     string `toml:"password"`
	Token        string `toml:"token"`
	NkeySeedFile string `toml:"nkey_seed_file"`
	CredsFile    string `toml:"creds_file"`
	TLSCA        string `toml:"tls_ca"`
	TLSCert      string `toml:"tls_cert"`
	TLSKey       string `toml:"tls_key"`
	// InboxPrefix replaces "_INBOX" in the subjects this process gets
	// replies on, so its credentials can be limited to <prefix>.> there.
	InboxPrefix string `toml:"inbox_prefix"`
	// Replicas is how many copies of each stream sieve creates; an
	// existing stream keeps its own.
	Replicas int `toml:"replicas"`
}

// Queue holds the job queue's delivery settings.
type Queue struct {
	AckWait      Duration `toml:"ack_wait"`
	MaxDeliver   int      `toml:"max_deliver"`
	MaxPayload   int      `toml:"max_payload"`
	DrainTimeout Duration `toml:"drain_timeout"`
	// Backoff is the wait before each retry of a job whose generation
	// failed; the last value repeats.
	Backoff []Duration `toml:"backoff"`
	// MaxTimeout caps a job's timeout_ms; it is also the timeout of a job
	// that gives none.
	MaxTimeout Duration `toml:"max_timeout"`
	// ResultsMaxAge is how long final results stay in SIEVE_RESULTS for
	// callers who come late.
	ResultsMaxAge Duration `toml:"results_max_age"`
}

// Filter holds the keyword lists.
type Filter struct {
	Normalize bool   `toml:"normalize"`
	Lists     []List `toml:"lists"`
	// Policies name sets of lists a job may choose with its "policy"
	// field. The "default" policy, unless given here, holds every list.
	Policies map[string][]string `toml:"policies"`
	// AvoidMaxRewinds bounds the times one job goes back to avoid a
	// keyword of an avoid list; AvoidMaxTries the times at one token.
	AvoidMaxRewinds int `toml:"avoid_max_rewinds"`
	AvoidMaxTries   int `toml:"avoid_max_tries"`
}

// List is one keyword list.
type List struct {
	Name   string `toml:"name"`
	Action string `toml:"action"` // redact | block | flag | avoid
	// Fallback is what an avoid list does when avoiding runs out of
	// tries (filter.avoid_max_rewinds, filter.avoid_max_tries): redact
	// (the default), block or flag.
	Fallback    string   `toml:"fallback"`
	Replacement string   `toml:"replacement"`
	ApplyTo     []string `toml:"apply_to"` // input, output
	Match       string   `toml:"match"`    // substring | word
	Words       []string `toml:"words"`
	Files       []string `toml:"files"`
	// Reveal lets results, logs and errors name the keyword that matched;
	// unset, it is false for block lists (lists of secrets) and true for
	// the others.
	Reveal *bool `toml:"reveal"`
	// Strict adds foldings that catch disguises the normalized view
	// lets through: true for all of them, or some by name (lookalikes,
	// traditional, spaced, leet; spaced and leet for word lists only).
	Strict Strict `toml:"strict"`

	// Source is "file:line" of the list's [[filter.lists]] header.
	Source string `toml:"-"`
}

// Strict is a list's strict key: true, false, or switch names.
type Strict struct {
	Names []string // every switch when All
	All   bool
	bad   string // what the file said, when it is neither
}

// StrictSwitches are the names Strict accepts.
var StrictSwitches = []string{"lookalikes", "traditional", "spaced", "leet"}

// UnmarshalTOML implements toml.Unmarshaler.
func (s *Strict) UnmarshalTOML(v any) error {
	switch v := v.(type) {
	case bool:
		*s = Strict{All: v}
		if v {
			s.Names = StrictSwitches
		}
	case []any:
		*s = Strict{}
		for _, x := range v {
			name, ok := x.(string)
			if !ok {
				s.bad = fmt.Sprint(v)
				return nil
			}
			s.Names = append(s.Names, name)
		}
	default:
		s.bad = fmt.Sprint(v)
	}
	return nil
}

// Metrics says where to serve Prometheus metrics and health.
type Metrics struct {
	Listen string `toml:"listen"`
}

// HTTP is the OpenAI-compatible front door (package gateway).
type HTTP struct {
	Listen string `toml:"listen"` // host:port; empty = off
	// Model is the name clients send as "model"; empty = the model
	// file's name without ".gguf" (or "sieve" where there is no file).
	Model string `toml:"model"`
	// Timeout is the deadline of a job whose request sends no timeout
	// header; zero = queue.max_timeout.
	Timeout Duration `toml:"timeout"`
	// APIKeys and the keys in APIKeysFile (one per line: KEY
	// [policy=NAME] [tenant=PREFIX]) may call; with none, anyone may.
	APIKeys     []APIKey `toml:"api_keys"`
	APIKeysFile string   `toml:"api_keys_file"`
	// Slow clients: ReadTimeout bounds reading a request (headers and
	// body), WriteTimeout each write of a reply (a streaming client that
	// reads nothing for that long is cut and its job cancelled),
	// IdleTimeout a kept-alive connection between requests.
	ReadTimeout  Duration `toml:"read_timeout"`
	WriteTimeout Duration `toml:"write_timeout"`
	IdleTimeout  Duration `toml:"idle_timeout"`
}

// APIKey is one bearer key of the HTTP door.
type APIKey struct {
	Key    string `toml:"key"`
	Policy string `toml:"policy"` // every request of this key runs under it
	Tenant string `toml:"tenant"` // the first token of its jobs' ids
}

// Log says how to log.
type Log struct {
	Level  string `toml:"level"`  // debug | info | warn | error
	Format string `toml:"format"` // text | json
}

// Duration is a time.Duration written as a string such as "30s".
type Duration struct{ time.Duration }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%q is not a duration (write it like \"30s\" or \"2m\")", b)
	}
	d.Duration = v
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// Default returns the configuration used where a file is silent.
func Default() Config {
	return Config{
		Model: Model{Context: 4096, Batch: 512, Parallel: 1, DecodeNice: -1, PromptCache: true},
		Generate: Generate{
			System:         "You are a helpful assistant.",
			MaxTokens:      512,
			MaxTokensLimit: 4096,
			Sampling:       job.Sampling{Temperature: new(0.7), TopK: new(40), TopP: new(0.9), MinP: new(0.05), RepeatPenalty: new(1.1)},
		},
		NATS: NATS{Listen: "127.0.0.1:4222", DataDir: "data", Prefix: "sieve", Replicas: 1},
		Queue: Queue{
			AckWait:       Duration{30 * time.Second},
			MaxDeliver:    5,
			MaxPayload:    1 << 20,
			DrainTimeout:  Duration{30 * time.Second},
			Backoff:       []Duration{{time.Second}, {5 * time.Second}, {30 * time.Second}},
			MaxTimeout:    Duration{10 * time.Minute},
			ResultsMaxAge: Duration{24 * time.Hour},
		},
		Filter: Filter{Normalize: true, AvoidMaxRewinds: 16, AvoidMaxTries: 4},
		HTTP:   HTTP{ReadTimeout: Duration{30 * time.Second}, WriteTimeout: Duration{30 * time.Second}, IdleTimeout: Duration{2 * time.Minute}},
		Log:    Log{Level: "info", Format: "text"},
	}
}

// ErrInvalid is wrapped by every error Load and Parse return for a bad
// file.
var ErrInvalid = errors.New("invalid configuration")

// Problem is one thing wrong with a file.
type Problem struct {
	File string
	Line int // 0 when unknown
	Key  string
	Msg  string
}

func (p Problem) Error() string {
	loc := p.File
	if p.Line > 0 {
		loc += ":" + strconv.Itoa(p.Line)
	}
	if p.Key == "" {
		return loc + ": " + p.Msg
	}
	return loc + ": " + p.Key + ": " + p.Msg
}

// Problems is every problem found in a file, in line order.
type Problems []Problem

func (ps Problems) Error() string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.Error()
	}
	return strings.Join(s, "\n")
}

// Is makes errors.Is(err, ErrInvalid) true.
func (ps Problems) Is(target error) bool { return target == ErrInvalid }

// Load reads and validates the file at path.
func Load(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return Parse(path, data)
}

// Parse decodes and validates data read from file. It returns every
// problem it finds, not just the first.
func Parse(file string, data []byte) (Config, error) {
	c := Default()
	c.File = file
	md, err := toml.NewDecoder(bytes.NewReader(data)).Decode(&c)
	if err != nil {
		return Config{}, Problems{decodeProblem(file, err)}
	}
	// A smaller context than the default batch makes the default batch
	// too large; an operator who never wrote model.batch should not have
	// to fix it.
	if !md.IsDefined("model", "batch") && c.Model.Batch > c.Model.Context {
		c.Model.Batch = c.Model.Context
	}
	// So do the token limits, which a reply cannot exceed anyway.
	if !md.IsDefined("generate", "max_tokens_limit") && c.Model.Context >= 1 {
		c.Generate.MaxTokensLimit = min(c.Generate.MaxTokensLimit, c.Model.Context)
	}
	if !md.IsDefined("generate", "max_tokens") {
		c.Generate.MaxTokens = min(c.Generate.MaxTokens, c.Generate.MaxTokensLimit)
	}
	lines := indexLines(data)
	var ps Problems
	for _, k := range md.Undecoded() {
		ps = append(ps, Problem{File: file, Line: lines.find(k.String()), Key: k.String(), Msg: "unknown key"})
	}
	for i := range c.Filter.Lists {
		c.Filter.Lists[i].Source = fmt.Sprintf("%s:%d", file, lines.header(i))
	}
	for _, p := range c.validate() {
		p.File = file
		p.Line = lines.find(p.Key)
		ps = append(ps, p)
	}
	if len(ps) > 0 {
		sort.SliceStable(ps, func(i, j int) bool { return ps[i].Line < ps[j].Line })
		return Config{}, ps
	}
	return c, nil
}

// decodeProblem turns the TOML library's error, which stops at the first
// syntax or type error, into a Problem with the line.
func decodeProblem(file string, err error) Problem {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		return Problem{File: file, Line: pe.Position.Line, Key: pe.LastKey, Msg: pe.Message}
	}
	// Type errors read "toml: line N (last key "k"): message".
	msg := err.Error()
	if m := typeErrRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return Problem{File: file, Line: line, Key: m[2], Msg: m[3]}
	}
	return Problem{File: file, Msg: strings.TrimPrefix(msg, "toml: ")}
}

var typeErrRE = regexp.MustCompile(`^toml: line (\d+) \(last key "([^"]*)"\): (.*)$`)

// Resolve returns p relative to the configuration file's folder, as
// operators expect of paths written in a config file.
func (c Config) Resolve(p string) string {
	if p == "" || filepath.IsAbs(p) || c.File == "" {
		return p
	}
	return filepath.Join(filepath.Dir(c.File), p)
}

func (c Config) validate() []Problem {
	var ps []Problem
	bad := func(key, format string, args ...any) {
		ps = append(ps, Problem{Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	for _, check := range []func(badFunc){c.checkModel, c.checkGenerate, c.checkNATS, c.checkQueue, c.checkLists, c.checkFilter, c.checkHTTP, c.checkMetricsLog} {
		check(bad)
	}
	return ps
}

// badFunc records one problem with the value of a key.
type badFunc func(key, format string, args ...any)

// checkModel checks [model].
func (c Config) checkModel(bad badFunc) {
	m := c.Model
	if m.GPULayers < -1 {
		bad("model.gpu_layers", "%d: want -1 (all), 0 (none) or a layer count", m.GPULayers)
	}
	if m.Context < 64 || m.Context > 1<<20 {
		bad("model.context", "%d: want 64 to 1048576 tokens", m.Context)
	}
	if m.Parallel < 1 || m.Parallel > 256 {
		bad("model.parallel", "%d: want 1 to 256 slots", m.Parallel)
	} else if m.Context/m.Parallel < 64 {
		bad("model.parallel", "%d slots leave %d tokens each of model.context %d: want at least 64", m.Parallel, m.Context/m.Parallel, m.Context)
	}
	if m.Batch < max(1, m.Parallel) || m.Batch > max(m.Context, 1) {
		bad("model.batch", "%d: want from model.parallel (%d) to model.context (%d)", m.Batch, m.Parallel, m.Context)
	}
	if m.Threads < 0 || m.Threads > 1024 {
		bad("model.threads", "%d: want 0 (one per physical core) to 1024", m.Threads)
	}
	if m.DecodeNice < -1 || m.DecodeNice > 19 {
		bad("model.decode_nice", "%d: want 0 (the process's priority) to 19, or -1 to let sieve choose", m.DecodeNice)
	}
	if m.PromptCacheTokens < 0 || m.PromptCacheTokens > 1<<20 {
		bad("model.prompt_cache_tokens", "%d: want 0 to 1048576 tokens", m.PromptCacheTokens)
	}
}

// checkGenerate checks [generate] against the model's context.
func (c Config) checkGenerate(bad badFunc) {
	g := c.Generate
	if g.MaxTokensLimit < 1 || g.MaxTokensLimit > c.Model.Context {
		// A reply longer than the context cannot be; a limit above it
		// only lets jobs ask for what they will never get.
		bad("generate.max_tokens_limit", "%d: want 1 to model.context (%d)", g.MaxTokensLimit, c.Model.Context)
	}
	if g.MaxTokens < 1 || g.MaxTokens > g.MaxTokensLimit {
		bad("generate.max_tokens", "%d: want 1 to generate.max_tokens_limit (%d)", g.MaxTokens, g.MaxTokensLimit)
	}
	for _, p := range g.Sampling.Problems() {
		bad("generate."+p.Field, "%s: want %s", p.Value, p.Want)
	}
}

// checkNATS checks [nats].
func (c Config) checkNATS(bad badFunc) {
	n := c.NATS
	if n.URL != "" {
		for _, u := range strings.Split(n.URL, ",") {
			pu, err := url.Parse(strings.TrimSpace(u))
			if err != nil || pu.Host == "" || !validScheme[pu.Scheme] {
				bad("nats.url", "%q: want nats://host:port (or tls://, ws://, wss://), comma-separated for a cluster", RedactURL(u))
			}
		}
	}
	if _, _, err := net.SplitHostPort(n.Listen); err != nil {
		bad("nats.listen", "%q: want host:port", n.Listen)
	}
	if !subjectTokens.MatchString(n.Prefix) {
		bad("nats.prefix", "%q: want subject tokens such as \"sieve\" or \"team.sieve\" (no spaces or wildcards)", n.Prefix)
	}
	if n.InboxPrefix != "" && !subjectTokens.MatchString(n.InboxPrefix) {
		bad("nats.inbox_prefix", "%q: want subject tokens such as \"_INBOX_sieve\" (no spaces or wildcards)", n.InboxPrefix)
	}
	switch {
	case n.Replicas < 1 || n.Replicas > 5:
		bad("nats.replicas", "%d: want 1 to 5", n.Replicas)
	case n.Replicas > 1 && n.URL == "":
		bad("nats.replicas", "%d: copies need a cluster; the embedded server is one node (set nats.url, or replicas = 1)", n.Replicas)
	}
	auth := 0
	for _, set := range []bool{n.User != "" || n.Password != "", n.Token != "", n.NkeySeedFile != "", n.CredsFile != ""} {
		if set {
			auth++
		}
	}
	if auth > 1 {
		bad("nats.user", "choose one of user/password, token, nkey_seed_file and creds_file")
	}
	if n.User != "" && n.Password == "" {
		bad("nats.user", "a user needs a password")
	}
	if n.Password != "" && n.User == "" {
		bad("nats.password", "a password needs a user")
	}
	if (n.TLSCert == "") != (n.TLSKey == "") {
		bad("nats.tls_cert", "tls_cert and tls_key go together")
	}
}

// checkQueue checks [queue].
func (c Config) checkQueue(bad badFunc) {
	q := c.Queue
	if q.AckWait.Duration < time.Second {
		bad("queue.ack_wait", "%s: want at least 1s", q.AckWait)
	}
	if q.MaxDeliver < 1 {
		bad("queue.max_deliver", "%d: want at least 1", q.MaxDeliver)
	}
	if q.MaxPayload < 1024 || q.MaxPayload > 64<<20 {
		bad("queue.max_payload", "%d: want 1024 to 67108864 bytes", q.MaxPayload)
	}
	if q.DrainTimeout.Duration < 0 {
		bad("queue.drain_timeout", "%s: want 0 or more", q.DrainTimeout)
	}
	for _, b := range q.Backoff {
		if b.Duration < 0 {
			bad("queue.backoff", "%s: want 0 or more", b)
		}
	}
	if q.MaxTimeout.Duration < time.Second {
		bad("queue.max_timeout", "%s: want at least 1s", q.MaxTimeout)
	}
	if q.ResultsMaxAge.Duration < time.Minute {
		bad("queue.results_max_age", "%s: want at least 1m", q.ResultsMaxAge)
	}
}

// checkLists checks each [[filter.lists]] table.
func (c Config) checkLists(bad badFunc) {
	names := map[string]bool{}
	for i, l := range c.Filter.Lists {
		key := func(k string) string { return fmt.Sprintf("filter.lists[%d].%s", i, k) }
		switch {
		case l.Name == "":
			bad(key("name"), "every list needs a name")
		case names[l.Name]:
			bad(key("name"), "%q names two lists", l.Name)
		}
		names[l.Name] = true
		switch l.Action {
		case "redact", "block", "flag", "avoid":
		default:
			bad(key("action"), "%q: want redact, block, flag or avoid", l.Action)
		}
		switch {
		case l.Fallback != "" && l.Action != "avoid":
			bad(key("fallback"), "only an avoid list has a fallback")
		case l.Fallback != "" && l.Fallback != "redact" && l.Fallback != "block" && l.Fallback != "flag":
			bad(key("fallback"), "%q: want redact, block or flag", l.Fallback)
		}
		switch l.Match {
		case "", "substring", "word":
		default:
			bad(key("match"), "%q: want substring or word", l.Match)
		}
		for _, w := range l.ApplyTo {
			if w != "input" && w != "output" {
				bad(key("apply_to"), "%q: want input or output", w)
			}
		}
		if l.Strict.bad != "" {
			bad(key("strict"), "%s: want true, false or a list of %s", l.Strict.bad, strings.Join(StrictSwitches, ", "))
		}
		for _, n := range l.Strict.Names {
			if !slices.Contains(StrictSwitches, n) {
				bad(key("strict"), "%q: want %s", n, strings.Join(StrictSwitches, ", "))
			}
		}
		if len(l.Words) == 0 && len(l.Files) == 0 {
			bad(key("words"), "the list has neither words nor files")
		}
	}
}

// checkFilter checks [filter]'s own keys and its policies.
func (c Config) checkFilter(bad badFunc) {
	if c.Filter.AvoidMaxRewinds < 0 || c.Filter.AvoidMaxRewinds > 1000 {
		bad("filter.avoid_max_rewinds", "%d: want 0 to 1000", c.Filter.AvoidMaxRewinds)
	}
	if c.Filter.AvoidMaxTries < 1 || c.Filter.AvoidMaxTries > 100 {
		bad("filter.avoid_max_tries", "%d: want 1 to 100", c.Filter.AvoidMaxTries)
	}

	for name, members := range c.Filter.Policies {
		key := "filter.policies." + name
		if !ValidPolicyName(name) {
			bad(key, "%q: a policy name is letters, digits, '_' and '-'", name)
		}
		for _, m := range members {
			if !slices.ContainsFunc(c.Filter.Lists, func(l List) bool { return l.Name == m }) {
				bad(key, "list %q is not defined in [[filter.lists]]", m)
			}
		}
	}
}

// checkHTTP checks [http] and its keys.
func (c Config) checkHTTP(bad badFunc) {
	if h := c.HTTP; h.Listen != "" {
		if _, _, err := net.SplitHostPort(h.Listen); err != nil {
			bad("http.listen", "%q: want host:port, or empty for off", h.Listen)
		}
	}
	if c.HTTP.Timeout.Duration != 0 && c.HTTP.Timeout.Duration < time.Second {
		bad("http.timeout", "%s: want at least 1s, or 0 for queue.max_timeout", c.HTTP.Timeout)
	}
	for _, t := range []struct {
		key string
		d   Duration
	}{{"http.read_timeout", c.HTTP.ReadTimeout}, {"http.write_timeout", c.HTTP.WriteTimeout}, {"http.idle_timeout", c.HTTP.IdleTimeout}} {
		if t.d.Duration < time.Second || t.d.Duration > 24*time.Hour {
			bad(t.key, "%s: want 1s to 24h", t.d)
		}
	}
	for i, k := range c.HTTP.APIKeys {
		key := func(k string) string { return fmt.Sprintf("http.api_keys[%d].%s", i, k) }
		if len(k.Key) < MinAPIKeyLength || strings.ContainsAny(k.Key, " \t\r\n") {
			bad(key("key"), "want at least 16 characters and no spaces")
		}
		if k.Policy != "" && !ValidPolicyName(k.Policy) {
			bad(key("policy"), "%q: a policy name is letters, digits, '_' and '-'", k.Policy)
		}
		if k.Tenant != "" && !ValidTenant(k.Tenant) {
			bad(key("tenant"), "%q: want one id token of up to 64 letters, digits, '_' and '-', not starting with '_'", k.Tenant)
		}
	}
}

// checkMetricsLog checks [metrics] and [log].
func (c Config) checkMetricsLog(bad badFunc) {
	if c.Metrics.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Metrics.Listen); err != nil {
			bad("metrics.listen", "%q: want host:port, or empty for off", c.Metrics.Listen)
		}
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "%q: want debug, info, warn or error", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		bad("log.format", "%q: want text or json", c.Log.Format)
	}
}

// MinAPIKeyLength is the shortest API key of the HTTP door: keys are
// compared as hashes in constant time, but a short one can be guessed.
const MinAPIKeyLength = 16

// ValidPolicyName reports whether s can name a policy: letters, digits,
// '_' and '-'.
func ValidPolicyName(s string) bool {
	return subjectTokens.MatchString(s) && !strings.Contains(s, ".")
}

// ValidTenant reports whether s can be an API key's tenant: one job id
// token of up to 64 letters, digits, '_' and '-', not starting with '_'
// (sieve's own namespace).
func ValidTenant(s string) bool {
	return ValidPolicyName(s) && !strings.HasPrefix(s, "_") && len(s) <= 64
}

var validScheme = map[string]bool{"nats": true, "tls": true, "ws": true, "wss": true}

var subjectTokens = regexp.MustCompile(`^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$`)

// lineIndex maps key paths ("model.context", "filter.lists[1].action") to
// the line that sets them. The TOML library keeps positions to itself, so
// sieve scans the file once more; a key it cannot place gets line 0.
type lineIndex struct {
	keys    map[string]int
	headers map[string][]int // table path → header lines, in order
}

var (
	headerRE = regexp.MustCompile(`^\s*(\[\[?)\s*([A-Za-z0-9_.\-" ]+?)\s*\]\]?`)
	keyRE    = regexp.MustCompile(`^\s*([A-Za-z0-9_\-."]+)\s*=`)
)

func indexLines(data []byte) lineIndex {
	idx := lineIndex{keys: map[string]int{}, headers: map[string][]int{}}
	table := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), len(data)+1)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if m := headerRE.FindStringSubmatch(line); m != nil {
			name := strings.ReplaceAll(m[2], " ", "")
			idx.headers[name] = append(idx.headers[name], n)
			table = name
			if m[1] == "[[" {
				table = fmt.Sprintf("%s[%d]", name, len(idx.headers[name])-1)
			}
			idx.keys[table] = n
			continue
		}
		if m := keyRE.FindStringSubmatch(line); m != nil {
			k := strings.ReplaceAll(m[1], `"`, "")
			if table != "" {
				k = table + "." + k
			}
			if _, seen := idx.keys[k]; !seen {
				idx.keys[k] = n
			}
		}
	}
	return idx
}

// find returns the line of key, trying array-of-tables entries in order
// for keys given without an index (as the TOML library reports them), and
// falling back to the nearest enclosing table.
func (idx lineIndex) find(key string) int {
	if n, ok := idx.keys[key]; ok {
		return n
	}
	if i := strings.LastIndex(key, "."); i > 0 {
		table, last := key[:i], key[i+1:]
		for j := range idx.headers[table] {
			if n, ok := idx.keys[fmt.Sprintf("%s[%d].%s", table, j, last)]; ok {
				return n
			}
		}
		return idx.find(table)
	}
	return 0
}

// header returns the line of the i-th [[filter.lists]] header.
func (idx lineIndex) header(i int) int {
	if hs := idx.headers["filter.lists"]; i < len(hs) {
		return hs[i]
	}
	return 0
}

// RedactURL returns the NATS URL (or comma-separated list of them) with
// any password in it replaced, for logs and messages: nats://user:pw@host
// becomes nats://user:xxxxx@host, and a lone token (nats://t0ken@host)
// nats://xxxxx@host.
func RedactURL(urls string) string {
	parts := strings.Split(urls, ",")
	for i, p := range parts {
		at := strings.LastIndex(p, "@")
		scheme := strings.Index(p, "://")
		if at < 0 || scheme < 0 || at < scheme {
			continue
		}
		info := p[scheme+3 : at]
		if user, _, ok := strings.Cut(info, ":"); ok {
			info = user + ":xxxxx"
		} else {
			info = "xxxxx"
		}
		parts[i] = p[:scheme+3] + info + p[at:]
	}
	return strings.Join(parts, ",")
}
