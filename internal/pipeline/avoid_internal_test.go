package pipeline

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/sieve-project/sieve/internal/engine"
	"github.com/sieve-project/sieve/internal/filter"
)

// TestAvoidNeverReachesReleasedText checks the hold-back guarantee the
// engine's rewinds rely on, with the real guard: over random texts full of
// keywords in disguise, split into random tokens (also inside characters),
// releasing a token only when the guard says all of it is safe (as the
// engine does), no veto ever starts before the first token not released.
// It also checks that a restored mark gives what the first pass gave.
func TestAvoidNeverReachesReleasedText(t *testing.T) {
	f, err := filter.Compile([]filter.ListSpec{
		{Name: "en", Action: filter.Flag, Match: filter.Word, Words: []string{"darn", "heck", "bluebird", "dar"}},
		{Name: "zh", Action: filter.Flag, Words: []string{"机密", "秘密文件"}},
	}, filter.Options{Normalize: true})
	if err != nil {
		t.Fatal(err)
	}
	atoms := []string{"darn", "ＤＡＲＮ", "da\u200brn", "heck", "bluebird", "blue bird", "dar", "dare", "机密", "秘密文件", "秘密", "文件",
		" ", " ", ", ", ".", "the", "darning", "é", "🙂", "a"}
	rng := rand.New(rand.NewPCG(11, 12))
	vetoes := 0
	for round := 0; round < 3000; round++ {
		var sb strings.Builder
		for n := 1 + rng.IntN(12); n > 0; n-- {
			sb.WriteString(atoms[rng.IntN(len(atoms))])
		}
		text := []byte(sb.String())
		var toks [][]byte
		for i := 0; i < len(text); {
			k := min(len(text)-i, 1+rng.IntN(6))
			toks = append(toks, text[i:i+k])
			i += k
		}
		g := newAvoidGuard(f)
		type step struct {
			safe int
			veto engine.Veto
		}
		var marks []engine.GuardState
		var steps []step
		offs, released, at := []int{}, 0, 0
		for i, tok := range toks {
			marks = append(marks, g.Mark())
			offs = append(offs, at)
			at += len(tok)
			safe, v := g.Write(tok)
			s := step{safe: safe}
			if v != nil {
				vetoes++
				s.veto = *v
				if released < len(offs) && v.Start < offs[released] || released == len(offs) {
					t.Fatalf("%q split %q: a veto at %d reaches token %d, released (tokens before %d are)", text, toks, v.Start, i, released)
				}
			}
			steps = append(steps, s)
			for released < len(offs) && offs[released]+len(toks[released]) <= safe {
				released++
			}
		}
		// Back to a random mark, and the same tokens again: the same answers.
		from := rng.IntN(len(toks))
		g.Restore(marks[from])
		for i := from; i < len(toks); i++ {
			safe, v := g.Write(toks[i])
			var got engine.Veto
			if v != nil {
				got = *v
			}
			if safe != steps[i].safe || got != steps[i].veto {
				t.Fatalf("%q split %q, again from token %d: token %d gave %d %+v, first %d %+v", text, toks, from, i, safe, got, steps[i].safe, steps[i].veto)
			}
		}
	}
	if vetoes < 1000 {
		t.Fatalf("only %d vetoes in 3000 texts: the test is not exercising them", vetoes)
	}
}

// TestAvoidReleasesAtOnce: text no avoided keyword can reach is safe as
// soon as the guard has seen it: the engine releases each such token when
// it is generated, not a token later. Text that could still begin a
// keyword is held until it cannot.
func TestAvoidReleasesAtOnce(t *testing.T) {
	f, err := filter.Compile([]filter.ListSpec{{Name: "en", Action: filter.Flag, Match: filter.Word, Words: []string{"darn"}}}, filter.Options{Normalize: true})
	if err != nil {
		t.Fatal(err)
	}
	g := newAvoidGuard(f)
	for _, tt := range []struct {
		tok  string
		safe int
	}{
		{"Hello", 5},   // no word of the list begins inside a word
		{", ", 7},      // nor in punctuation and space
		{"da", 7},      // "da" may begin "darn": held
		{"wn", 11},     // "dawn" cannot: released
		{" world", 16}, // "world" cannot become "darn"
	} {
		safe, v := g.Write([]byte(tt.tok))
		if v != nil || safe != tt.safe {
			t.Fatalf("after %q: safe %d, want %d (veto %+v)", tt.tok, safe, tt.safe, v)
		}
	}
}
