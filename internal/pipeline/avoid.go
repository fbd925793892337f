package pipeline

import (
	"github.com/sieve-project/sieve/internal/engine"
	"github.com/sieve-project/sieve/internal/filter"
)

// avoidGuard is the engine.Guard of a job's avoid lists: it vetoes a
// match of any of them, so the engine goes back to the token where the
// match began and says something else there. It watches the generated
// text through the avoid lists alone, compiled as flag lists, with the
// same normalized, cross-token matching as every list; what it holds back
// is exactly what could still become a match, so the engine releases a
// token only when no avoided keyword can reach it any more.
type avoidGuard struct {
	s *filter.Stream
}

func newAvoidGuard(f *filter.Filter) *avoidGuard {
	return &avoidGuard{s: f.NewStream(filter.Output)}
}

// Write takes the next token's text; what it reports safe is read after
// the text went in, so a token no keyword can reach is released as soon
// as it is generated, not one token later.
func (g *avoidGuard) Write(text []byte) (int, *engine.Veto) {
	r := g.s.Write(text)
	return g.s.Settled(), g.veto(r)
}

func (g *avoidGuard) End() *engine.Veto { return g.veto(g.s.Close()) }

// veto asks to undo from the earliest match r reports.
func (g *avoidGuard) veto(r filter.Result) *engine.Veto {
	if len(r.Hits) == 0 {
		return nil
	}
	srcs := g.s.HitSources()
	v := &engine.Veto{Start: srcs[0], Tag: r.Hits[0].List}
	for i, at := range srcs[1:] {
		if at < v.Start {
			v.Start, v.Tag = at, r.Hits[i+1].List
		}
	}
	return v
}

func (g *avoidGuard) Mark() engine.GuardState { return g.s.Clone() }

// Restore takes the state back; the engine drops the mark it restores, so
// it becomes the state itself.
func (g *avoidGuard) Restore(st engine.GuardState) { g.s = st.(*filter.Stream) }
