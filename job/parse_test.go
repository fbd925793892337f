package job

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name, in, code, says, id string
	}{
		{"good", `{"id":"a1","messages":[{"role":"user","content":"hi"}],"max_tokens":5,"seed":3,"stop":["\n"],"metadata":{"k":1}}`, "", "", "a1"},
		{"invalid json", `{"id":"a1",`, "invalid_json", "cut short", ""},
		{"syntax", `{"id":"a1" "x"}`, "invalid_json", "byte", ""},
		{"not an object", `[1,2]`, "invalid_json", "JSON object", ""},
		{"wrong type", `{"id":"a2","max_tokens":"many"}`, "bad_field", `field "max_tokens": got string, want an integer`, "a2"},
		{"wrong nested type", `{"id":"a3","messages":[{"role":1}]}`, "bad_field", `messages.role`, "a3"},
		{"unknown field", `{"id":"a4","prompt":"hi"}`, "unknown_field", `"prompt"`, "a4"},
		{"empty id", `{"messages":[]}`, "empty_id", "unique id", ""},
		{"invalid utf8", "{\"id\":\"a5\",\"x\":\"\xff\"}", "invalid_utf8", "UTF-8", ""},
		{"trailing data", `{"id":"a6"} {}`, "invalid_json", "after the JSON", "a6"},
		{"negative seed", `{"id":"a7","seed":-1}`, "bad_field", "seed", "a7"},
		{"too large", `{"id":"a8","metadata":{"pad":"` + strings.Repeat("x", 200) + `"}}`, "too_large", "limit", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j, e := Parse([]byte(tt.in), 128+64)
			if tt.code == "" {
				if e != nil || j.ID != tt.id {
					t.Fatalf("got %+v, %+v", j, e)
				}
				return
			}
			if e == nil || e.Code != tt.code || !strings.Contains(e.Message, tt.says) {
				t.Fatalf("error %+v, want %s saying %q", e, tt.code, tt.says)
			}
			if j.ID != tt.id {
				t.Fatalf("id %q, want %q kept for the rejection", j.ID, tt.id)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"id":"a1","messages":[{"role":"user","content":"hi"}],"max_tokens":5}`))
	f.Add([]byte(`{"id":"","stop":[""],"timeout_ms":-1}`))
	f.Add([]byte("{\"id\":\"\xff\"}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		j, e := Parse(data, 1<<16)
		if e == nil && j.ID == "" {
			t.Fatal("accepted a job without an id")
		}
		if e != nil && (e.Code == "" || e.Message == "") {
			t.Fatalf("error without code or message: %+v", e)
		}
	})
}
