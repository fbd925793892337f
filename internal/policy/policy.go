// Package policy holds the filter policies a job may name, compiled from
// the configuration's keyword lists: a Registry that swaps all of them at
// once on reload, and for each Policy its input screen, its output
// stages and its avoid lists. It is where the configuration's lists become
// the filter's (Specs).
//
// It does not run jobs (package pipeline does) or read TOML (package
// config does).
package policy

import (
	"cmp"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"sync/atomic"

	"github.com/sieve-project/sieve/internal/config"
	"github.com/sieve-project/sieve/internal/filter"
	"github.com/sieve-project/sieve/internal/stage"
	"github.com/sieve-project/sieve/job"
)

// Default is the policy of a job that names none.
const Default = "default"

// ErrUnknown is returned for a policy the configuration does not define.
var ErrUnknown = errors.New("unknown policy")

// Registry holds every policy and swaps them all at once on reload. A job
// takes its Policy when it starts and keeps it, so a reload never changes
// a text half way. Safe for concurrent use.
type Registry struct {
	cur atomic.Pointer[map[string]*Policy]
}

// Policy is what one policy's jobs are moderated with. It does not change
// once made.
type Policy struct {
	f *filter.Filter // every list; an avoid list as its fallback action
	// avoid holds the avoid lists of the output side, as flag lists: a
	// match of one is what the engine goes back to avoid. nil if none.
	avoid                *filter.Filter
	maxRewinds, maxTries int
}

// Load compiles the configuration's policies.
func Load(c config.Config) (*Registry, error) {
	set, err := compile(c)
	if err != nil {
		return nil, err
	}
	r := &Registry{}
	r.cur.Store(&set)
	return r, nil
}

// Static serves one compiled filter as the default policy.
func Static(flt *filter.Filter) *Registry {
	r := &Registry{}
	set := map[string]*Policy{Default: {f: flt}}
	r.cur.Store(&set)
	return r
}

// Reload compiles c's policies and puts them in force; on error the
// policies in force stay, and the error says why.
func (r *Registry) Reload(c config.Config) error {
	set, err := compile(c)
	if err != nil {
		return err
	}
	r.cur.Store(&set)
	return nil
}

// Lookup returns the named policy; "" is the default.
func (r *Registry) Lookup(name string) (*Policy, error) {
	if name == "" {
		name = Default
	}
	set := *r.cur.Load()
	p, ok := set[name]
	if !ok {
		return nil, fmt.Errorf("%w %q (defined: %v)", ErrUnknown, name, r.Names())
	}
	return p, nil
}

// Check returns the error Lookup would: for settings that name a policy
// (an API key's).
func (r *Registry) Check(name string) error {
	_, err := r.Lookup(name)
	return err
}

// Names lists the policy names in force.
func (r *Registry) Names() []string {
	set := *r.cur.Load()
	names := make([]string, 0, len(set))
	for n := range set {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// compile compiles each policy's lists; the default policy, unless the
// configuration defines it, holds every list.
func compile(c config.Config) (map[string]*Policy, error) {
	specs, opts := Specs(c)
	avoid := map[string]bool{}
	for _, l := range c.Filter.Lists {
		if l.Action == "avoid" {
			avoid[l.Name] = true
		}
	}
	policies := map[string][]string{}
	for name, lists := range c.Filter.Policies {
		policies[name] = lists
	}
	if _, ok := policies[Default]; !ok {
		all := make([]string, len(specs))
		for i, s := range specs {
			all[i] = s.Name
		}
		policies[Default] = all
	}
	set := make(map[string]*Policy, len(policies))
	var errs []error
	for name, lists := range policies {
		var sub, av []filter.ListSpec
		for _, s := range specs {
			if !slices.Contains(lists, s.Name) {
				continue
			}
			sub = append(sub, s)
			if avoid[s.Name] && (len(s.ApplyTo) == 0 || slices.Contains(s.ApplyTo, filter.Output)) {
				a := s
				a.Action, a.ApplyTo = filter.Flag, []filter.Where{filter.Output}
				av = append(av, a)
			}
		}
		p := &Policy{maxRewinds: c.Filter.AvoidMaxRewinds, maxTries: c.Filter.AvoidMaxTries}
		var err error
		if p.f, err = filter.Compile(sub, opts); err == nil && len(av) > 0 {
			p.avoid, err = filter.Compile(av, opts)
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		set[name] = p
	}
	if len(errs) > 0 {
		// The same list in several policies reports the same errors:
		// keep each once.
		return nil, dedupe(errs)
	}
	return set, nil
}

func dedupe(errs []error) error {
	seen := map[string]bool{}
	var out []error
	for _, e := range errs {
		for _, one := range unjoin(e) {
			if !seen[one.Error()] {
				seen[one.Error()] = true
				out = append(out, one)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Error() < out[j].Error() })
	return errors.Join(out...)
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// reveal says whether a list's keywords may be named: as configured, or
// by default for every list but a block list.
func reveal(l config.List) bool {
	if l.Reveal != nil {
		return *l.Reveal
	}
	return filter.Action(l.Action) != filter.Block
}

// Specs turns the configuration's lists into the filter's specs; list
// files are relative to the configuration file's folder.
func Specs(c config.Config) ([]filter.ListSpec, filter.Options) {
	specs := make([]filter.ListSpec, 0, len(c.Filter.Lists))
	for _, l := range c.Filter.Lists {
		action := filter.Action(l.Action)
		if l.Action == "avoid" { // the guard avoids; the filter has the fallback
			action = filter.Action(cmp.Or(l.Fallback, string(filter.Redact)))
		}
		s := filter.ListSpec{
			Name:        l.Name,
			Action:      action,
			Replacement: l.Replacement,
			Match:       filter.Mode(l.Match),
			Words:       l.Words,
			Files:       l.Files,
			Source:      l.Source,
			Hide:        !reveal(l),
		}
		s.Strict, _ = filter.ParseStrict(l.Strict.Names) // names checked by config
		for _, w := range l.ApplyTo {
			s.ApplyTo = append(s.ApplyTo, filter.Where(w))
		}
		specs = append(specs, s)
	}
	base := "."
	if c.File != "" {
		base = filepath.Dir(c.File)
	}
	return specs, filter.Options{Normalize: c.Filter.Normalize, BaseDir: base}
}

// Filter is the policy's keyword filter: every list, each on the sides it
// applies to (an avoid list with its fallback action).
func (p *Policy) Filter() *filter.Filter { return p.f }

// Input is the policy's input screen: what the model sees of a message.
func (p *Policy) Input() stage.Input { return screen{p.f} }

// Output starts the output stages of one job's text.
func (p *Policy) Output() stage.Output { return &keywords{s: p.f.NewStream(filter.Output)} }

// Avoid is the policy's avoid lists as flag lists, and how far the engine
// may go back to avoid one (model.avoid_max_rewinds, avoid_max_tries);
// nil when the policy has none.
func (p *Policy) Avoid() (lists *filter.Filter, maxRewinds, maxTries int) {
	return p.avoid, p.maxRewinds, p.maxTries
}

// Fallback is what the output filter does with an avoid list's keyword
// the engine could not avoid.
func (p *Policy) Fallback(list string) string { return string(p.f.Action(list)) }

// keywords is the keyword filter as an output stage.
type keywords struct {
	s    *filter.Stream
	hits []job.Hit
}

func (k *keywords) Write(b []byte) stage.Result { return k.result(k.s.Write(b)) }
func (k *keywords) Close() stage.Result         { return k.result(k.s.Close()) }

func (k *keywords) result(r filter.Result) stage.Result {
	k.hits = k.hits[:0]
	for _, h := range r.Hits {
		k.hits = append(k.hits, hit(h))
	}
	return stage.Result{Text: r.Text, Hits: k.hits, Sources: k.s.HitSources(), Blocked: r.Blocked}
}

// screen is the keyword filter as an input stage.
type screen struct{ f *filter.Filter }

func (s screen) Screen(text string) stage.Result {
	c := s.f.Check(filter.Input, text)
	hits := make([]job.Hit, len(c.Hits))
	for i, h := range c.Hits {
		hits[i] = hit(h)
	}
	return stage.Result{Text: []byte(c.Text), Hits: hits, Blocked: c.Blocked}
}

func hit(h filter.Hit) job.Hit {
	return job.Hit{List: h.List, Action: string(h.Action), Start: h.Start, End: h.End, Keyword: h.Keyword}
}

// Reveals returns a test of candidates said after context: whether one
// would give away a keyword of the policy's output lists that redacts or
// blocks, that is whether the text with it has a match that the context
// alone, ended there, does not. It is how alternatives offered beside a
// reply (logprobs) are moderated: one that would complete a keyword is
// not offered. The context is checked once, for all the candidates.
func (p *Policy) Reveals(context string) func(candidate string) bool {
	base := p.acting(context)
	return func(candidate string) bool { return p.acting(context+candidate) > base }
}

// acting counts the matches of redact and block lists in text, and one
// more if it is blocked.
func (p *Policy) acting(text string) int {
	r := p.f.Check(filter.Output, text)
	n := 0
	for _, h := range r.Hits {
		if h.Action != filter.Flag {
			n++
		}
	}
	if r.Blocked {
		n++
	}
	return n
}
