package gateway

import (
	"testing"

	"github.com/sieve-project/sieve/job"
)

func TestRelay(t *testing.T) {
	type step struct {
		seq  int
		text string
		want string
	}
	tests := []struct {
		name      string
		steps     []step
		final     string
		wantFinal string
		ok        bool
	}{
		{"in order", []step{{1, "Oh", "Oh"}, {2, " hi", " hi"}}, "Oh hi.", ".", true},
		{"retry repeats the same text", []step{{1, "Oh", "Oh"}, {2, " hi", " hi"}, {1, "Oh", ""}, {2, " hi", ""}, {3, " there", " there"}}, "Oh hi there", "", true},
		{"retry says something else", []step{{1, "Oh", "Oh"}, {1, "Ah", ""}, {2, " well", ""}}, "Ah well", "", false},
		{"a gap stops the stream until the result", []step{{1, "a", "a"}, {3, "c", ""}, {4, "d", ""}}, "abcd", "bcd", true},
		{"a gap, then a retry catches up", []step{{1, "a", "a"}, {3, "c", ""}, {1, "a", ""}, {2, "b", "b"}}, "abc", "c", true},
		{"retry shorter than sent", []step{{1, "abc", "abc"}, {1, "a", ""}}, "abc", "", true},
		{"nothing streamed", nil, "all of it", "all of it", true},
		{"result shorter than sent", []step{{1, "abc", "abc"}}, "ab", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var r relay
			for i, s := range tc.steps {
				if got := string(r.chunk(job.Chunk{Seq: s.seq, Text: s.text})); got != s.want {
					t.Fatalf("step %d (seq %d %q): got %q, want %q", i, s.seq, s.text, got, s.want)
				}
			}
			got, ok := r.final(tc.final)
			if got != tc.wantFinal || ok != tc.ok {
				t.Fatalf("final: got %q %v, want %q %v", got, ok, tc.wantFinal, tc.ok)
			}
		})
	}
}
