package filter

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// TestLintWidenedByStrict: for lists with strict switches, Lint counts
// each entry's hits on the corpus with and without them and reports the
// entries that hit more with them, most added first; hidden lists by
// place only. And it warns of Traditional entries whose Simplified
// spelling the traditional view does not catch.
func TestLintWidenedByStrict(t *testing.T) {
	specs := []ListSpec{
		{Name: "zh", Action: Block, Strict: StrictTraditional, Words: []string{"幹", "贱", "后门", "幹你", "乾"}},
		{Name: "en", Action: Redact, Match: Word, Strict: StrictAll, Words: []string{"ass", "hello"}},
		{Name: "plain", Action: Redact, Words: []string{"darn", "干"}},
		{Name: "secret", Action: Block, Hide: true, Strict: StrictLookalikes, Words: []string{"xyzzy"}},
	}
	corpus := []string{"賤人 贱 後門 后门 干活 幹 乾", "a55 аss hell0 hello darn хyzzy"}
	rep, err := Lint(specs, Options{Normalize: true}, corpus)
	if err != nil {
		t.Fatal(err)
	}
	want := []Widened{
		{List: "en", Pos: "words[0]", Entry: "ass", Plain: 0, Strict: 2},
		{List: "en", Pos: "words[1]", Entry: "hello", Plain: 1, Strict: 2},
		{List: "secret", Pos: "words[0]", Plain: 0, Strict: 1},
		{List: "zh", Pos: "words[1]", Entry: "贱", Plain: 1, Strict: 2},
		{List: "zh", Pos: "words[2]", Entry: "后门", Plain: 1, Strict: 2},
	}
	if !slices.Equal(rep.WidenedByStrict, want) {
		t.Fatalf("widened %+v\nwant %+v", rep.WidenedByStrict, want)
	}
	var why []string
	for _, w := range rep.Warnings {
		if strings.Contains(w.Why, "written in Traditional") {
			why = append(why, w.Entry+": "+w.Why)
		}
	}
	// 幹 and 幹你 are not caught as 干, 干你. 乾 is not either, but it
	// is a Simplified character too ("qián"), so it does not tell that
	// the entry is written in Traditional: no warning.
	if len(why) != 2 || !strings.Contains(why[1], `幹你: written in Traditional (幹; Simplified 干): strict catches Traditional spellings of Simplified entries, not the other way, so "干你" does not match unless listed`) {
		t.Fatalf("Traditional warnings %q", why)
	}
	// The list has the Simplified spelling: no warning.
	rep, err = Lint([]ListSpec{{Name: "zh", Action: Flag, Strict: StrictTraditional, Words: []string{"幹你", "干你"}}}, Options{Normalize: true}, corpus)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Warnings) != 0 || len(rep.WidenedByStrict) != 0 {
		t.Fatalf("warnings %+v widened %+v", rep.Warnings, rep.WidenedByStrict)
	}
	b, _ := json.Marshal(rep)
	if !strings.Contains(string(b), `"WidenedByStrict":`) {
		t.Fatalf("JSON %s", b)
	}
}
