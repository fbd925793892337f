package job

import (
	"strings"
	"testing"
	"time"
)

var testLimits = Limits{MaxPayload: 4096, MaxTokensLimit: 100, MaxTimeout: 10 * time.Minute}

func TestParse(t *testing.T) {
	const msgs = `"messages":[{"role":"user","content":"hi"}]`
	deep := func(n int) string { return strings.Repeat(`{"a":`, n) + "1" + strings.Repeat("}", n) }
	tests := []struct {
		name, in, id, code, says string
	}{
		{"good", `{"id":"a1",` + msgs + `,"max_tokens":5,"seed":3,"stop":["\n"],"metadata":{"k":1}}`, "a1", "", ""},
		{"no body id", `{` + msgs + `}`, "t.42", "", ""},
		{"invalid json", `{"id":"a1",`, "a1", CodeInvalidJSON, "cut short"},
		{"syntax", `{"id":"a1" "x"}`, "a1", CodeInvalidJSON, "byte"},
		{"not an object", `[1,2]`, "a1", CodeInvalidJSON, "JSON object, not an array"},
		{"null", `null`, "a1", CodeInvalidJSON, "not null"},
		{"empty", ``, "a1", CodeInvalidJSON, "empty"},
		{"wrong type", `{"max_tokens":"many",` + msgs + `}`, "a2", CodeBadField, `field "max_tokens": got string`},
		{"huge number", `{"max_tokens":1e40,` + msgs + `}`, "a2", CodeBadField, `max_tokens`},
		{"wrong nested type", `{"messages":[{"role":1}]}`, "a3", CodeBadField, `messages.role`},
		{"messages not an array", `{"messages":{"role":"user","content":"x"}}`, "a3", CodeBadField, `field "messages": got object, want an array`},
		{"unknown field", `{"prompt":"hi"}`, "a4", CodeUnknownField, `"prompt"`},
		{"case variant", `{"Id":"b",` + msgs + `}`, "a", CodeUnknownField, `"Id"`},
		{"case variant in a message", `{"messages":[{"Role":"user","content":"x"}]}`, "a", CodeUnknownField, `messages[0]: unknown field "Role"`},
		{"duplicate field", `{"id":"a","id":"b",` + msgs + `}`, "a", CodeDuplicateField, `"id" is given twice`},
		{"duplicate in a message", `{"messages":[{"role":"user","role":"system","content":"x"}]}`, "a", CodeDuplicateField, `messages[0]`},
		{"duplicate in metadata", `{` + msgs + `,"metadata":{"k":1,"k":2}}`, "a", CodeDuplicateField, `metadata`},
		{"invalid utf8", "{\"id\":\"a5\",\"x\":\"\xff\"}", "a5", CodeInvalidUTF8, "UTF-8"},
		{"trailing data", `{` + msgs + `} {}`, "a6", CodeInvalidJSON, "after the JSON"},
		{"negative seed", `{"seed":-1,` + msgs + `}`, "a7", CodeBadField, "seed"},
		{"reserved seed", `{"seed":4294967295,` + msgs + `}`, "a7", CodeBadSampling, "reserved"},
		{"too large", `{"metadata":{"pad":"` + strings.Repeat("x", 5000) + `"}}`, "a8", CodeTooLarge, "limit"},
		{"empty body id", `{"id":"",` + msgs + `}`, "a9", CodeBadID, `"id" is ""`},
		{"null body id", `{"id":null,` + msgs + `}`, "a9", CodeBadID, `"id" is null`},
		{"numeric body id", `{"id":7,` + msgs + `}`, "a9", CodeBadField, `"id"`},
		{"another job's id", `{"id":"victim",` + msgs + `}`, "mine", CodeIDMismatch, `published as "mine"`},
		{"invalid body id", `{"id":"x*y",` + msgs + `}`, "mine", CodeBadID, `'*'`},
		{"body id in request/reply", `{"id":"mine",` + msgs + `}`, RequestIDPrefix + "1", CodeIDMismatch, "leave \"id\" out"},
		{"reserved subject id", `{` + msgs + `}`, "_x.1", CodeReservedID, "sieve's own"},
		{"bad subject id", `{` + msgs + `}`, strings.Repeat("x", 129), CodeBadID, "1 to 128"},
		{"no messages", `{"messages":[]}`, "a", CodeNoMessages, "at least one"},
		{"missing messages", `{}`, "a", CodeNoMessages, "at least one"},
		{"bad role", `{"messages":[{"role":"tool","content":"x"}]}`, "a", CodeBadRole, `"tool"`},
		{"max_tokens 0", `{"max_tokens":0,` + msgs + `}`, "a", CodeBadMaxTokens, "at least 1"},
		{"max_tokens negative", `{"max_tokens":-5,` + msgs + `}`, "a", CodeBadMaxTokens, "at least 1"},
		{"max_tokens over", `{"max_tokens":101,` + msgs + `}`, "a", CodeMaxTokensOverLimit, "limit"},
		{"temperature", `{"temperature":-1,` + msgs + `}`, "a", CodeBadSampling, "temperature"},
		{"top_p", `{"top_p":0,` + msgs + `}`, "a", CodeBadSampling, "top_p"},
		{"empty stop", `{"stop":[""],` + msgs + `}`, "a", CodeBadStop, "stop[0]"},
		{"timeout 0", `{"timeout_ms":0,` + msgs + `}`, "a", CodeBadTimeout, "more than 0"},
		{"timeout negative", `{"timeout_ms":-1,` + msgs + `}`, "a", CodeBadTimeout, "more than 0"},
		{"metadata deep", `{` + msgs + `,"metadata":` + deep(33) + `}`, "a", CodeBadMetadata, "deeper than 32"},
		{"metadata at depth", `{` + msgs + `,"metadata":` + deep(32) + `}`, "a", "", ""},
		{"deep elsewhere", `{` + msgs + `,"stop":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}`, "a", CodeInvalidJSON, "deeper"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j, e := Parse([]byte(tt.in), tt.id, testLimits)
			if j.ID != tt.id {
				t.Fatalf("id %q, want %q whatever the verdict", j.ID, tt.id)
			}
			if tt.code == "" {
				if e != nil {
					t.Fatalf("rejected: %+v", e)
				}
				return
			}
			if e == nil || e.Code != tt.code || !strings.Contains(e.Message, tt.says) {
				t.Fatalf("error %+v, want %s saying %q", e, tt.code, tt.says)
			}
		})
	}
}

func TestParseClampsTimeout(t *testing.T) {
	for in, want := range map[string]time.Duration{
		`9223372036855`:       10 * time.Minute, // overflows a Duration in nanoseconds
		`9223372036854775807`: 10 * time.Minute,
		`1500`:                1500 * time.Millisecond,
	} {
		j, e := Parse([]byte(`{"messages":[{"role":"user","content":"x"}],"timeout_ms":`+in+`}`), "a", testLimits)
		if e != nil || j.Timeout(testLimits) != want {
			t.Errorf("timeout_ms %s: %v %v, want %v", in, j.Timeout(testLimits), e, want)
		}
	}
	if j, _ := Parse([]byte(`{"messages":[{"role":"user","content":"x"}]}`), "a", testLimits); j.Timeout(testLimits) != 10*time.Minute {
		t.Errorf("no timeout_ms: %v, want the limit", j.Timeout(testLimits))
	}
}

func TestCheckID(t *testing.T) {
	for id, ok := range map[string]bool{
		"a1": true, "tenant-a.42": true, "a.b.c": true, "_req.x": true, "~!@#$%^&()": true, strings.Repeat("x", 128): true,
		"": false, "a b": false, "a*": false, "a.>": false, ".a": false, "a.": false, "a..b": false, "é": false,
		"a\x00b": false, "a\tb": false, strings.Repeat("x", 129): false,
	} {
		if got := CheckID(id) == nil; got != ok {
			t.Errorf("CheckID(%q) ok = %v, want %v", id, got, ok)
		}
	}
	if id := NewRequestID(); CheckID(id) != nil || !Reserved(id) || id == NewRequestID() {
		t.Errorf("NewRequestID %q: want a fresh, valid, reserved id", id)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"id":"a1","messages":[{"role":"user","content":"hi"}],"max_tokens":5}`))
	f.Add([]byte(`{"id":"","stop":[""],"timeout_ms":-1}`))
	f.Add([]byte("{\"id\":\"\xff\"}"))
	f.Add([]byte(`{"messages":[{"role":"user","content":"x"}],"metadata":{"a":[{"b":{}}]},"id":"a1"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		j, e := Parse(data, "a1", testLimits)
		if j.ID != "a1" {
			t.Fatal("the id is not the given one")
		}
		if e != nil && (e.Code == "" || e.Message == "") {
			t.Fatalf("error without code or message: %+v", e)
		}
		if e == nil && (len(j.Messages) == 0 || (j.TimeoutMS != nil && *j.TimeoutMS <= 0)) {
			t.Fatalf("accepted an invalid job: %s", data)
		}
	})
}
