package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	nest := func(n int) string { return strings.Repeat(`{"a":`, n) + "1" + strings.Repeat("}", n) }
	tests := []struct {
		in       string
		kind     Kind // 0: no error
		path     string
		maxDepth int
	}{
		{in: `{}`},
		{in: ` {"a":[1,{"b":null}],"c":{"d":"x"}} `},
		{in: `{"a":1,"A":2}`}, // names match exactly
		{in: `{"a":{"x":1},"b":{"x":1}}`},
		{in: `{"a":[{"x":1},{"x":1}]}`},
		{in: ``, kind: Syntax},
		{in: `{"a":1`, kind: Syntax},
		{in: `{"a" 1}`, kind: Syntax, path: "a"},
		{in: `{"a":[1,]}`, kind: Syntax, path: "a[1]"},
		{in: `{"a":{"b":tru}}`, kind: Syntax, path: "a.b"},
		{in: `[]`, kind: NotObject},
		{in: `null`, kind: NotObject},
		{in: `"x"`, kind: NotObject},
		{in: `{"a":1,"a":2}`, kind: Duplicate, path: "a"},
		{in: `{"a":1,"\u0061":2}`, kind: Duplicate, path: "a"}, // as decoded
		{in: `{"m":[{"r":1},{"r":1,"r":2}]}`, kind: Duplicate, path: "m[1].r"},
		{in: `{"":{"x":1,"x":2}}`, kind: Duplicate, path: "x"}, // an empty name writes as nothing
		{in: `{"a":[[{"b":{"c":1,"c":1}}]]}`, kind: Duplicate, path: "a[0][0].b.c"},
		{in: `{"a":1} {}`, kind: Trailing},
		{in: `{"a":1} x`, kind: Trailing},
		{in: `{"a":1}}`, kind: Trailing},
		{in: nest(4), maxDepth: 4},
		{in: nest(5), kind: TooDeep, path: "a.a.a.a", maxDepth: 4},
		{in: `{"a":[[[1]]]}`, maxDepth: 4},
		{in: `{"a":[[[[1]]]]}`, kind: TooDeep, path: "a[0][0][0]", maxDepth: 4},
		{in: nest(200)}, // no bound
		{in: `{"a":{"a":1,"a":2},"b":` + nest(5) + `}`, kind: Duplicate, path: "a.a", maxDepth: 3}, // the first problem wins
	}
	for _, tt := range tests {
		err := Check([]byte(tt.in), Options{MaxDepth: tt.maxDepth})
		if tt.kind == 0 {
			if err != nil {
				t.Errorf("%s: %v", tt.in, err)
			}
			continue
		}
		var e *Error
		if !errors.As(err, &e) || e.Kind != tt.kind || e.Path.String() != tt.path {
			t.Errorf("%s: got %v, want %v at %q", tt.in, err, tt.kind, tt.path)
			continue
		}
		if e.Offset < 0 || e.Offset > int64(len(tt.in)) {
			t.Errorf("%s: offset %d out of the document", tt.in, e.Offset)
		}
		if (e.Kind == Syntax) != (e.Err != nil) {
			t.Errorf("%s: Err %v with kind %v", tt.in, e.Err, e.Kind)
		}
	}
}

func TestErrorDetails(t *testing.T) {
	var e *Error
	if err := Check([]byte(`{"a":1,"a":2}`), Options{}); !errors.As(err, &e) || e.Offset != 10 ||
		err.Error() != "strictjson: a name given twice at a (byte 10)" {
		t.Errorf("duplicate: %v %+v", err, e)
	}
	var syn *json.SyntaxError
	if err := Check([]byte(`{"a":x}`), Options{}); !errors.As(err, &syn) || !errors.As(err, &e) || e.Offset != syn.Offset {
		t.Errorf("syntax: %v, want a *json.SyntaxError inside and its offset", err)
	}
	if err := Check([]byte(`{"a":`), Options{}); !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("cut short: %v, want EOF inside", err)
	}
	for in, want := range map[string]any{`null`: nil, `[1]`: json.Delim('['), `true`: true, `"s"`: "s", `2`: json.Number("2")} {
		if err := Check([]byte(in), Options{}); !errors.As(err, &e) || e.Kind != NotObject || e.Token != want {
			t.Errorf("%s: %v, token %#v, want %#v", in, err, e.Token, want)
		}
	}
}

func TestPathString(t *testing.T) {
	for p, want := range map[string]Path{
		"":             nil,
		"a":            {{Name: "a", Index: -1}},
		"a[0].b":       {{Name: "a", Index: -1}, {Index: 0}, {Name: "b", Index: -1}},
		"x.y":          {{Name: "", Index: -1}, {Name: "x", Index: -1}, {Name: "y", Index: -1}},
		"[2][3]":       {{Index: 2}, {Index: 3}},
		"a.b.c[10].d.": {{Name: "a.b", Index: -1}, {Name: "c", Index: -1}, {Index: 10}, {Name: "d.", Index: -1}},
	} {
		if got := want.String(); got != p {
			t.Errorf("%#v: %q, want %q", want, got, p)
		}
	}
}

func TestHooks(t *testing.T) {
	doc := `{"id" : "x", "m":[{"r":1}], "meta":{"k":[2]}}`
	var calls []string
	err := Check([]byte(doc), Options{
		Name:  func(p Path) error { calls = append(calls, "name "+p.String()); return nil },
		Open:  func(p Path, depth int) error { calls = append(calls, fmt.Sprintf("open %q %d", p, depth)); return nil },
		Value: func(p Path, raw []byte) error { calls = append(calls, fmt.Sprintf("value %s %q", p, raw)); return nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`open "" 1`,
		`name id`, `value id " : \"x\""`,
		`name m`, `open "m" 2`, `open "m[0]" 3`, `name m[0].r`, `value m[0].r ":1"`, `value m ":[{\"r\":1}]"`,
		`name meta`, `open "meta" 2`, `name meta.k`, `open "meta.k" 3`, `value meta.k ":[2]"`, `value meta ":{\"k\":[2]}"`,
	}
	if strings.Join(calls, "\n") != strings.Join(want, "\n") {
		t.Errorf("calls:\n%s\nwant:\n%s", strings.Join(calls, "\n"), strings.Join(want, "\n"))
	}

	// A hook's error ends the check and comes back as it is; Open runs
	// before the depth check.
	stop := errors.New("stop")
	open := func(p Path, depth int) error {
		if depth > 1 {
			return stop
		}
		return nil
	}
	if err := Check([]byte(`{"a":{"b":1}}`), Options{MaxDepth: 1, Open: open}); err != stop {
		t.Errorf("open: %v, want the hook's error", err)
	}
	value := func(p Path, raw []byte) error {
		if p.String() == "b" {
			return stop
		}
		return nil
	}
	if err := Check([]byte(`{"a":1,"b":[2],"c":x}`), Options{Value: value}); err != stop {
		t.Errorf("value: %v, want the hook's error", err)
	}
	// Name runs after the duplicate check: not for the second "a".
	names := 0
	name := func(p Path) error { names++; return nil }
	if err := Check([]byte(`{"a":1,"a":2}`), Options{Name: name}); !errors.As(err, new(*Error)) || names != 1 {
		t.Errorf("name: %v after %d calls, want the duplicate after 1", err, names)
	}
}

// FuzzCheck checks Check against encoding/json: a document Check passes
// is valid JSON, an object, and decodes without losing a name; a valid
// object is refused only for a name given twice (exactly when decoding
// loses one) or its depth. (Invalid documents may be refused for either
// too: the first problem wins.) The seeds are in testdata/fuzz/FuzzCheck.
func FuzzCheck(f *testing.F) {
	f.Add([]byte(`{"a":[1,{"b":null,"c":"x"}],"d":{"e":{}}}`), uint8(0))
	f.Add([]byte(`{"a":{"b":1,"b":2}}`), uint8(3))
	f.Fuzz(func(t *testing.T, data []byte, maxDepth uint8) {
		depth := int(maxDepth % 8)
		var spans [][]byte
		err := Check(data, Options{MaxDepth: depth, Value: func(p Path, raw []byte) error {
			spans = append(spans, raw)
			return nil
		}})
		valid := json.Valid(data)
		object := valid && bytes.HasPrefix(bytes.TrimSpace(data), []byte("{"))
		var e *Error
		if err != nil && !errors.As(err, &e) {
			t.Fatalf("not an *Error: %v", err)
		}
		switch {
		case err == nil && !object:
			t.Fatalf("passed %q, which is not one JSON object", data)
		case err != nil && object && e.Kind != Duplicate && e.Kind != TooDeep:
			t.Fatalf("%q is a JSON object, refused with %v", data, err)
		case err != nil && (e.Offset < 0 || e.Offset > int64(len(data))):
			t.Fatalf("%q: offset %d", data, e.Offset)
		case err != nil && e.Kind == TooDeep && (depth == 0 || len(e.Path) != depth):
			t.Fatalf("%q: too deep at %q with max depth %d", data, e.Path, depth)
		case err != nil && e.Kind == Duplicate && (len(e.Path) == 0 || e.Path[len(e.Path)-1].IsItem()):
			t.Fatalf("%q: duplicate at %q", data, e.Path)
		}
		if err == nil {
			for _, raw := range spans {
				v := bytes.TrimSpace(raw)
				if len(v) == 0 || v[0] != ':' || !json.Valid(v[1:]) {
					t.Fatalf("%q: value span %q", data, raw)
				}
			}
		}
		if object && (err == nil || e.Kind == Duplicate) {
			if lost := tokens(t, data) != decodedTokens(t, data); lost != (err != nil) {
				t.Fatalf("%q: refused %v, but decoding loses a name: %v", data, err, lost)
			}
		}
	})
}

// tokens counts data's tokens as the decoder reads them.
func tokens(t *testing.T, data []byte) int {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	n := 0
	for {
		_, err := dec.Token()
		if err == io.EOF {
			return n
		}
		if err != nil {
			t.Fatalf("%q: %v", data, err)
		}
		n++
	}
}

// decodedTokens counts the tokens of data as decoded, where of two equal
// names in an object only one is left.
func decodedTokens(t *testing.T, data []byte) int {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("%q: %v", data, err)
	}
	var count func(v any) int
	count = func(v any) int {
		switch v := v.(type) {
		case map[string]any:
			n := 2 + len(v)
			for _, x := range v {
				n += count(x)
			}
			return n
		case []any:
			n := 2
			for _, x := range v {
				n += count(x)
			}
			return n
		}
		return 1
	}
	return count(v)
}
