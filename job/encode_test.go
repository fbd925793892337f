package job

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestMarshalLeavesHTMLAsItIs(t *testing.T) {
	text := `<script>if (a < b && c > d) {}</script>`
	j := Job{Messages: []Message{{Role: "user", Content: text}}, Metadata: map[string]any{"raw": json.RawMessage(`"<&>"`)}}
	b, err := Marshal(j)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), text) || !strings.Contains(string(b), `"<&>"`) || strings.Contains(string(b), `\u003c`) {
		t.Fatalf("escaped: %s", b)
	}
	var back Job
	if err := json.Unmarshal(b, &back); err != nil || back.Messages[0].Content != text {
		t.Fatalf("does not decode back: %v %+v", err, back)
	}
	if b[len(b)-1] == '\n' {
		t.Fatal("trailing newline")
	}
	ind, _ := MarshalIndent(Chunk{ID: "a", Seq: 1, Text: "<b>"}, "", "  ")
	if !strings.Contains(string(ind), `"text": "<b>"`) {
		t.Fatalf("indented: %s", ind)
	}
}
