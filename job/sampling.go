package job

import (
	"fmt"
	"math"
)

// Sampling is how the next token is chosen. It is the one declaration of
// these settings: a Job embeds it (so they are top-level fields on the
// wire), and so do the configuration's [generate] section and a batch's
// defaults (as TOML keys). A nil field takes the default: a job's from
// its batch, then from the configuration.
type Sampling struct {
	Temperature   *float64 `json:"temperature,omitempty" toml:"temperature"`       // 0 = greedy
	TopK          *int     `json:"top_k,omitempty" toml:"top_k"`                   // 0 = off
	TopP          *float64 `json:"top_p,omitempty" toml:"top_p"`                   // 1 = off
	MinP          *float64 `json:"min_p,omitempty" toml:"min_p"`                   // 0 = off
	RepeatPenalty *float64 `json:"repeat_penalty,omitempty" toml:"repeat_penalty"` // 1 = off
	Seed          *uint32  `json:"seed,omitempty" toml:"seed"`                     // nil: a random seed
}

// Problem is a value out of its range: Field is its name on the wire (and
// in the configuration), Value and Want say what it is and may be.
type Problem struct {
	Field, Value, Want string
}

func (p Problem) String() string { return fmt.Sprintf("%s %s: want %s", p.Field, p.Value, p.Want) }

// Problems returns every field out of its range, in field order: the one
// range check of these settings, for jobs and configuration alike.
func (s Sampling) Problems() []Problem {
	var ps []Problem
	bad := func(field string, v any, want string) {
		ps = append(ps, Problem{Field: field, Value: fmt.Sprint(v), Want: want})
	}
	if v := s.Temperature; v != nil && (*v < 0 || *v > 100) {
		bad("temperature", *v, "0 (greedy) to 100")
	}
	if v := s.TopK; v != nil && *v < 0 {
		bad("top_k", *v, "0 (off) or more")
	}
	if v := s.TopP; v != nil && (*v <= 0 || *v > 1) {
		bad("top_p", *v, "more than 0, at most 1")
	}
	if v := s.MinP; v != nil && (*v < 0 || *v > 1) {
		bad("min_p", *v, "0 to 1")
	}
	if v := s.RepeatPenalty; v != nil && (*v <= 0 || *v > 10) {
		bad("repeat_penalty", *v, "more than 0, at most 10 (1 = off)")
	}
	if v := s.Seed; v != nil && *v == math.MaxUint32 {
		bad("seed", *v, fmt.Sprintf("0 to %d, or leave it out (%d is reserved for a random seed)", uint32(math.MaxUint32-1), uint32(math.MaxUint32)))
	}
	return ps
}

// OrDefaults is s with d's values where s has none.
func (s Sampling) OrDefaults(d Sampling) Sampling {
	or(&s.Temperature, d.Temperature)
	or(&s.TopK, d.TopK)
	or(&s.TopP, d.TopP)
	or(&s.MinP, d.MinP)
	or(&s.RepeatPenalty, d.RepeatPenalty)
	or(&s.Seed, d.Seed)
	return s
}

func or[T any](v **T, d *T) {
	if *v == nil {
		*v = d
	}
}
