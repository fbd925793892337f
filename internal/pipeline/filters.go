package pipeline

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
)

// DefaultPolicy is the policy of a job that names none.
const DefaultPolicy = "default"

// ErrUnknownPolicy is returned for a policy the configuration does not
// define.
var ErrUnknownPolicy = errors.New("unknown policy")

// Filters holds the compiled lists of every policy and swaps them all at
// once on reload. A job takes its policy's Filter when it starts and keeps
// it, so a reload never changes a text half way. Safe for concurrent use.
type Filters struct {
	cur atomic.Pointer[map[string]*policy]
}

// policy is what one policy's jobs are filtered with.
type policy struct {
	f *filter.Filter // every list; an avoid list as its fallback action
	// avoid holds the avoid lists of the output side, as flag lists: a
	// match of one is what the engine goes back to avoid. nil if none.
	avoid                *filter.Filter
	maxRewinds, maxTries int
}

// LoadFilters compiles the configuration's policies.
func LoadFilters(c config.Config) (*Filters, error) {
	set, err := compilePolicies(c)
	if err != nil {
		return nil, err
	}
	f := &Filters{}
	f.cur.Store(&set)
	return f, nil
}

// StaticFilters serves one compiled filter as the default policy.
func StaticFilters(flt *filter.Filter) *Filters {
	f := &Filters{}
	set := map[string]*policy{DefaultPolicy: {f: flt}}
	f.cur.Store(&set)
	return f
}

// Reload compiles c's policies and puts them in force; on error the
// policies in force stay, and the error says why.
func (f *Filters) Reload(c config.Config) error {
	set, err := compilePolicies(c)
	if err != nil {
		return err
	}
	f.cur.Store(&set)
	return nil
}

// Policy returns the filter of the named policy; "" is the default.
func (f *Filters) Policy(name string) (*filter.Filter, error) {
	p, err := f.policy(name)
	if err != nil {
		return nil, err
	}
	return p.f, nil
}

// CheckPolicy returns the error Policy would, without the filter: for
// settings that name a policy (an API key's).
func (f *Filters) CheckPolicy(name string) error {
	_, err := f.policy(name)
	return err
}

func (f *Filters) policy(name string) (*policy, error) {
	if name == "" {
		name = DefaultPolicy
	}
	set := *f.cur.Load()
	p, ok := set[name]
	if !ok {
		return nil, fmt.Errorf("%w %q (defined: %v)", ErrUnknownPolicy, name, f.Policies())
	}
	return p, nil
}

// Policies lists the policy names in force.
func (f *Filters) Policies() []string {
	set := *f.cur.Load()
	names := make([]string, 0, len(set))
	for n := range set {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// compilePolicies compiles each policy's lists; the default policy, unless
// the configuration defines it, holds every list.
func compilePolicies(c config.Config) (map[string]*policy, error) {
	specs, opts := FilterSpecs(c)
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
	if _, ok := policies[DefaultPolicy]; !ok {
		all := make([]string, len(specs))
		for i, s := range specs {
			all[i] = s.Name
		}
		policies[DefaultPolicy] = all
	}
	set := make(map[string]*policy, len(policies))
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
		p := &policy{maxRewinds: c.Filter.AvoidMaxRewinds, maxTries: c.Filter.AvoidMaxTries}
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

// FilterSpecs turns the configuration's lists into the filter's specs;
// list files are relative to the configuration file's folder.
func FilterSpecs(c config.Config) ([]filter.ListSpec, filter.Options) {
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
