package pipeline

import (
	"path/filepath"

	"github.com/sieve-project/sieve/config"
	"github.com/sieve-project/sieve/filter"
)

// FilterSpecs turns the configuration's lists into the filter's specs;
// list files are relative to the configuration file's folder.
func FilterSpecs(c config.Config) ([]filter.ListSpec, filter.Options) {
	specs := make([]filter.ListSpec, 0, len(c.Filter.Lists))
	for _, l := range c.Filter.Lists {
		s := filter.ListSpec{
			Name:        l.Name,
			Action:      filter.Action(l.Action),
			Replacement: l.Replacement,
			Match:       filter.Mode(l.Match),
			Words:       l.Words,
			Files:       l.Files,
			Source:      l.Source,
		}
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

// LoadFilters compiles the configuration's lists.
func LoadFilters(c config.Config) (*filter.Filter, error) {
	return filter.Compile(FilterSpecs(c))
}
