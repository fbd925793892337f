package filter

import (
	"slices"
	"testing"
	"unicode"
	"unicode/utf8"
)

// TestFoldTableMatchesDefinition checks the table against foldSlow (the
// definition, built on golang.org/x/text) for every code point, so the
// pre-check in mayFold and the ranges in foldRanges skip nothing.
func TestFoldTableMatchesDefinition(t *testing.T) {
	if testing.Short() {
		t.Skip("walks all of Unicode")
	}
	tab := foldTableOnce()
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if r >= 0xD800 && r <= 0xDFFF {
			continue
		}
		// Outside foldRanges only sample: x/text is slow and nothing there
		// folds (asserted by the samples).
		if r >= 0x30000 && r < 0xE0000 && r&0xff != 0x41 || r >= 0xE1000 && r&0xfff != 0x41 {
			continue
		}
		want := foldSlow(r)
		var got []rune
		switch v := uint32(0); {
		case r < utf8.RuneSelf:
			got = []rune{rune(tab.ascii[r])}
		default:
			if v = tab.lookup(r); v == 0 {
				got = []rune{r}
			} else {
				got = tab.expansion(v)
			}
		}
		if !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
			t.Fatalf("fold(%U) = %q, want %q", r, string(got), string(want))
		}
	}
}

// TestFoldIdempotent: folding folded text changes nothing, so a keyword and
// a text that contains it already normalized meet in the same view.
func TestFoldIdempotent(t *testing.T) {
	f, err := Compile([]ListSpec{{Name: "x", Action: Flag, Words: []string{"x"}}}, Options{Normalize: true})
	if err != nil {
		t.Fatal(err)
	}
	tab := f.fold
	for _, rg := range foldRanges {
		for r := rg[0]; r < rg[1]; r++ {
			v := tab.lookup(r)
			if v == 0 {
				continue
			}
			once := string(tab.expansion(v))
			if twice := f.normalize(once); twice != once {
				t.Errorf("fold(%U) = %q, folds again to %q", r, once, twice)
			}
		}
	}
}

func TestNormalizeExamples(t *testing.T) {
	f, err := Compile([]ListSpec{{Name: "x", Action: Flag, Words: []string{"x"}}}, Options{Normalize: true})
	if err != nil {
		t.Fatal(err)
	}
	for in, want := range map[string]string{
		"HeLLo":                 "hello",
		"ＦＵＬＬ":                  "full",
		"ﬁne":                   "fine",
		"ⓒⓘⓡⓒⓛⓔ":                "circle",
		"𝐛𝐨𝐥𝐝":                  "bold",
		"zero\u200bwidth":       "zerowidth",
		"soft\u00adhyphen":      "softhyphen",
		"bi\u202edi":            "bidi",
		"tag\U000E0041":         "tag",
		"vs\ufe0f":              "vs",
		"café":                  "cafe",
		"cafe\u0301":            "cafe",
		"s\u0336t\u0336r":       "str",
		"Straße":                "straße",
		"STRAẞE":                "straße",
		"STRASSE":               "strasse",
		"İstanbul":              "istanbul",
		"中文":                    "中文",
		"ｶﾀｶﾅ":                  "カタカナ",
		"한국어":                   "한국어",
		"x\u2060y\ufeffz\u034f": "xyz",
	} {
		if got := f.normalize(in); got != want {
			t.Errorf("normalize(%q) = %q, want %q", in, got, want)
		}
	}
}

func BenchmarkFoldTableBuild(b *testing.B) {
	for b.Loop() {
		buildFoldTable()
	}
}
