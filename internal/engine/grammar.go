package engine

import (
	"errors"

	"github.com/ollama/ollama/llama"
)

// ErrGrammar is SchemaGrammar's error for a schema llama.cpp's converter
// refuses.
var ErrGrammar = errors.New("llama.cpp's JSON Schema converter refused the schema")

// SchemaGrammar turns a JSON Schema into a GBNF grammar (root rule
// "root") with llama.cpp's converter, the one llama-server uses, for
// Request.Grammar. The converter ignores keywords it has no rules for:
// callers check the schema first (package format).
func SchemaGrammar(schema []byte) (string, error) {
	g := llama.SchemaToGrammar(schema)
	if g == nil {
		return "", ErrGrammar
	}
	return string(g), nil
}
