package job

import (
	"encoding/json"
	"testing"
)

func TestFitCutsHitsOnly(t *testing.T) {
	r := Result{ID: "x", Status: Rejected, Text: "kept", Metadata: map[string]any{"k": "v"}, Error: &Error{Code: CodePromptTooLong, Message: "too long"}}
	for i := 0; i < 20000; i++ {
		r.Filter.Input = append(r.Filter.Input, Hit{List: "profanity", Action: "flag", Start: 5 * i, End: 5*i + 4, Keyword: "darn"})
	}
	for i := 0; i < 100; i++ {
		r.Filter.Output = append(r.Filter.Output, Hit{List: "profanity", Action: "redact", Start: i, End: i + 1})
	}
	full, _ := Marshal(r)
	for _, limit := range []int{len(full), 100000, 5000, 400} {
		b, err := Fit(r, limit)
		if err != nil || len(b) > limit {
			t.Fatalf("limit %d: %d bytes, %v", limit, len(b), err)
		}
		var got Result
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		in, out := len(got.Filter.Input), len(got.Filter.Output)
		if in+got.Filter.InputOmitted != 20000 || out+got.Filter.OutputOmitted != 100 {
			t.Fatalf("limit %d: %d+%d input, %d+%d output hits", limit, in, got.Filter.InputOmitted, out, got.Filter.OutputOmitted)
		}
		if got.Text != "kept" || got.Error.Code != CodePromptTooLong || got.Metadata["k"] != "v" {
			t.Fatalf("limit %d: dropped more than hits: %+v", limit, got)
		}
		if limit < len(full) && (got.Filter.InputOmitted == 0 || in > 0 && got.Filter.Input[0].Start != 0) {
			t.Fatalf("limit %d: want the first hits kept and the rest counted", limit)
		}
	}
	if _, err := Fit(r, 50); err == nil {
		t.Fatal("a result that cannot fit without hits fits")
	}
}
