package job

import (
	"bytes"
	"encoding/json"
)

// Marshal encodes v as JSON the way sieve writes it everywhere (jobs,
// chunks, results, batch lines): as encoding/json does, but with <, > and
// & left as they are. JSON needs no escape for them, and escaping them
// takes six bytes each, so a job of HTML or code would be up to six times
// larger on NATS than its text, and refused for its size.
func Marshal(v any) ([]byte, error) { return MarshalIndent(v, "", "") }

// MarshalIndent is Marshal, indented, for people to read (with no
// indent, Marshal).
func MarshalIndent(v any, prefix, indent string) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent(prefix, indent)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}
