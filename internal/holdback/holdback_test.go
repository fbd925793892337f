package holdback

import (
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"
)

// run feeds pieces to a fresh Buffer and returns the released text and
// whether a stop string fired.
func run(t testing.TB, stops []string, pieces []string) (string, bool) {
	t.Helper()
	b := New(stops)
	var sb strings.Builder
	for _, p := range pieces {
		out, stopped := b.Write(p)
		if !utf8.ValidString(out) {
			t.Fatalf("released invalid UTF-8 %q from pieces %q", out, pieces)
		}
		sb.WriteString(out)
		if stopped {
			return sb.String(), true
		}
	}
	sb.WriteString(b.Flush())
	return sb.String(), false
}

func TestBuffer(t *testing.T) {
	tests := []struct {
		name    string
		stops   []string
		pieces  []string
		want    string
		stopped bool
	}{
		{"plain", nil, []string{"Hello", ", ", "world"}, "Hello, world", false},
		{"chinese split over byte tokens", nil, []string{"A \xe4\xb8", "\xad", "文"}, "A 中文", false},
		{"four-byte char in three pieces", nil, []string{"\xf0\x9f", "\x98", "\x80!"}, "😀!", false},
		{"unfinished char at end dropped", nil, []string{"ok\xe4\xb8"}, "ok", false},
		{"invalid bytes replaced one by one", nil, []string{"a\xff\xfe", "b"}, "a\uFFFD\uFFFDb", false},
		{"lead byte followed by ascii", nil, []string{"\xe4", "x"}, "\uFFFDx", false},
		{"stop in one piece", []string{"\n\n"}, []string{"one\n\ntwo"}, "one", true},
		{"stop split over pieces", []string{"STOP"}, []string{"abc S", "T", "OP def"}, "abc ", true},
		{"partial stop released at end", []string{"STOP"}, []string{"abc ST"}, "abc ST", false},
		{"false start then stop", []string{"abab"}, []string{"ab", "a", "bab", "x"}, "", true},
		{"earliest of two stops", []string{"xyz", "b"}, []string{"axy", "zb"}, "a", true},
		{"stop inside multi-byte text", []string{"。"}, []string{"句子\xe3\x80", "\x82后"}, "句子", true},
		{"empty stop ignored", []string{""}, []string{"abc"}, "abc", false},
		{"inner stop ends first, whole", []string{"bc", "abcd"}, []string{"abcd"}, "a", true},
		{"inner stop ends first, split", []string{"bc", "abcd"}, []string{"abc", "d"}, "a", true},
		{"same end: the longest", []string{"bc", "abc"}, []string{"xxabc"}, "xx", true},
		{"invalid stop ignored, whole", []string{"\xb8\xadX", "Y"}, []string{"中Y"}, "中", true},
		{"invalid stop ignored, split", []string{"\xb8\xadX", "Y"}, []string{"中", "Y"}, "中", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, stopped := run(t, tt.stops, tt.pieces)
			if got != tt.want || stopped != tt.stopped {
				t.Fatalf("got %q stopped=%v, want %q stopped=%v", got, stopped, tt.want, tt.stopped)
			}
		})
	}
}

func TestHoldsOnlyWhatCouldMatch(t *testing.T) {
	b := New([]string{"<END>"})
	if out, _ := b.Write("text <E"); out != "text " || b.held() != 2 {
		t.Fatalf("out %q held %d, want %q held 2", out, b.held(), "text ")
	}
	if out, _ := b.Write("x"); out != "<Ex" || b.held() != 0 {
		t.Fatalf("out %q held %d, want %q held 0", out, b.held(), "<Ex")
	}
}

// TestSplitsDoNotMatter checks the central property: any split of the same
// bytes gives the same released text and the same stop decision.
func TestSplitsDoNotMatter(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []string{"a", "b", " ", "中", "文", "😀", "\n", "\xff"}
	for i := 0; i < 3000; i++ {
		var sb strings.Builder
		for n := rng.IntN(30); n > 0; n-- {
			sb.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		text := sb.String()
		var stops []string
		for n := rng.IntN(3); n > 0; n-- {
			var s strings.Builder
			for m := 1 + rng.IntN(3); m > 0; m-- {
				s.WriteString(alphabet[rng.IntN(len(alphabet)-1)])
			}
			stops = append(stops, s.String())
		}
		checkSplits(t, rng, text, stops)
	}
}

func checkSplits(t *testing.T, rng *rand.Rand, text string, stops []string) {
	t.Helper()
	want, wantStop := run(t, stops, []string{text})
	for k := 0; k < 5; k++ {
		var pieces []string
		for rest := text; len(rest) > 0; {
			n := 1 + rng.IntN(min(len(rest), 5))
			pieces = append(pieces, rest[:n])
			rest = rest[n:]
		}
		got, gotStop := run(t, stops, pieces)
		if got != want || gotStop != wantStop {
			t.Fatalf("text %q stops %q pieces %q: got %q/%v, whole gives %q/%v", text, stops, pieces, got, gotStop, want, wantStop)
		}
	}
}

func FuzzSplits(f *testing.F) {
	f.Add("Hello \xe4\xb8\xad world\n\nbye", "\n\n", uint64(7))
	f.Add("abababx", "abab", uint64(1))
	f.Add("\xf0\x9f\x98\x80\xff", "\x98", uint64(3))
	f.Fuzz(func(t *testing.T, text, stop string, seed uint64) {
		checkSplits(t, rand.New(rand.NewPCG(seed, 0)), text, []string{stop})
	})
}
