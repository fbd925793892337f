// Package strictjson checks that a JSON document is one object with no
// name twice in any object and no deeper than a bound, and reports where
// it is not. It is the pass a strict reader makes before encoding/json
// decodes the document, where encoding/json is lenient: of two equal
// names it keeps the last, where another reader of the same bytes may
// keep the first, and it nests as deep as it is sent.
//
// Check returns an *Error with the kind of problem, the path to it and
// the offset; callers turn it into their own codes and messages. Hooks
// let a caller check more in the same pass (exact field names, a value's
// size). The package decodes nothing and knows no caller's fields.
package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// Kind is what is wrong with a document.
type Kind int

const (
	Syntax    Kind = iota + 1 // not JSON, or cut short: Error.Err is encoding/json's error
	NotObject                 // JSON whose first value is not an object: Error.Token is that value
	Duplicate                 // a name given twice in one object: Error.Path ends with it
	TooDeep                   // nested deeper than Options.MaxDepth: Error.Path is the object or array too deep
	Trailing                  // something after the object
)

func (k Kind) String() string {
	switch k {
	case Syntax:
		return "not valid JSON"
	case NotObject:
		return "not a JSON object"
	case Duplicate:
		return "a name given twice"
	case TooDeep:
		return "nested too deep"
	case Trailing:
		return "data after the object"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Error says what is wrong with a document and where.
type Error struct {
	Kind   Kind
	Path   Path       // where it was found; empty in the document's own object
	Offset int64      // bytes into the document
	Err    error      // Syntax: the decoder's error (a *json.SyntaxError, io.EOF, io.ErrUnexpectedEOF...)
	Token  json.Token // NotObject: the document's first value (nil for null, a json.Delim for an array)
}

func (e *Error) Error() string {
	msg := "strictjson: " + e.Kind.String()
	if len(e.Path) > 0 {
		msg += " at " + e.Path.String()
	}
	msg += fmt.Sprintf(" (byte %d)", e.Offset)
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// Path leads from the document's object to a value: member names, and
// item indexes in arrays.
type Path []Step

// Step is one step of a Path: into the member Name of an object, or, when
// Index is 0 or more, into item Index of an array.
type Step struct {
	Name  string
	Index int // -1 in a member's step
}

// IsItem reports whether s steps into an array.
func (s Step) IsItem() bool { return s.Index >= 0 }

// String writes p as a JavaScript-like accessor: messages[0].content.
// Names are written as they are, dots and brackets included.
func (p Path) String() string {
	var b strings.Builder
	for _, s := range p {
		switch {
		case s.IsItem():
			fmt.Fprintf(&b, "[%d]", s.Index)
		case b.Len() > 0:
			b.WriteString("." + s.Name)
		default:
			b.WriteString(s.Name)
		}
	}
	return b.String()
}

// Options bound a document and add checks to the pass.
type Options struct {
	// MaxDepth bounds the objects and arrays open at once, the
	// document's own object being 1; 0 is no bound.
	MaxDepth int

	// The hooks, each optional, are called in document order, with the
	// path of what they are called for; p is valid only during the
	// call. An error a hook returns ends the check, and Check returns
	// it as it is.

	// Name is called for each member, once its name is known to be the
	// first of its kind in its object, before its value is read; p ends
	// with the name.
	Name func(p Path) error
	// Open is called as each object or array opens, with its depth
	// (counted as for MaxDepth), before the depth is checked.
	Open func(p Path, depth int) error
	// Value is called once a member's value has been read, with the
	// document's bytes from the end of the name to the end of the value:
	// the colon, the value, and any space the document has around the
	// colon.
	Value func(p Path, raw []byte) error
}

// Check reads data as one JSON object and returns nil, an *Error, or
// the first error a hook returned. It reads no further than the first
// problem.
func Check(data []byte, o Options) error {
	c := checker{dec: json.NewDecoder(bytes.NewReader(data)), data: data, opts: o}
	c.dec.UseNumber() // any number is fine here; a float64 could overflow
	tok, err := c.dec.Token()
	if err != nil {
		return c.syntax(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		e := c.fail(NotObject)
		e.Token = tok
		return e
	}
	if err := c.container('{', 1); err != nil {
		return err
	}
	if _, err := c.dec.Token(); err != io.EOF {
		return c.fail(Trailing)
	}
	return nil
}

// checker is one Check's pass: the decoder reads the tokens, and path
// follows them.
type checker struct {
	dec  *json.Decoder
	data []byte
	opts Options
	path Path
}

// container reads the rest of the object or array that d opened, which
// is depth deep, and its closing delimiter.
func (c *checker) container(d json.Delim, depth int) error {
	if c.opts.Open != nil {
		if err := c.opts.Open(c.path, depth); err != nil {
			return err
		}
	}
	if c.opts.MaxDepth > 0 && depth > c.opts.MaxDepth {
		return c.fail(TooDeep)
	}
	if d == '{' {
		seen := map[string]bool{}
		for c.dec.More() {
			if err := c.member(seen, depth); err != nil {
				return err
			}
		}
	} else {
		for i := 0; c.dec.More(); i++ {
			c.path = append(c.path, Step{Index: i})
			if err := c.value(depth); err != nil {
				return err
			}
			c.path = c.path[:len(c.path)-1]
		}
	}
	_, err := c.dec.Token()
	return c.syntax(err)
}

// member reads one name and its value in an object whose names so far
// are seen.
func (c *checker) member(seen map[string]bool, depth int) error {
	tok, err := c.dec.Token()
	if err != nil {
		return c.syntax(err)
	}
	name, _ := tok.(string) // the decoder allows only a string here
	c.path = append(c.path, Step{Name: name, Index: -1})
	if seen[name] {
		return c.fail(Duplicate)
	}
	seen[name] = true
	if c.opts.Name != nil {
		if err := c.opts.Name(c.path); err != nil {
			return err
		}
	}
	nameEnd := c.dec.InputOffset()
	if err := c.value(depth); err != nil {
		return err
	}
	if c.opts.Value != nil {
		if err := c.opts.Value(c.path, c.data[nameEnd:c.dec.InputOffset()]); err != nil {
			return err
		}
	}
	c.path = c.path[:len(c.path)-1]
	return nil
}

// value reads one value inside an object or array that is depth deep.
func (c *checker) value(depth int) error {
	tok, err := c.dec.Token()
	if err != nil {
		return c.syntax(err)
	}
	if d, ok := tok.(json.Delim); ok { // only '{' or '[' here: the decoder checks the grammar
		return c.container(d, depth+1)
	}
	return nil
}

// fail is a problem of kind k where the pass has got to.
func (c *checker) fail(k Kind) *Error {
	return &Error{Kind: k, Path: slices.Clone(c.path), Offset: c.dec.InputOffset()}
}

// syntax is the Syntax error for the decoder's err, or nil for nil.
func (c *checker) syntax(err error) error {
	if err == nil {
		return nil
	}
	e := c.fail(Syntax)
	e.Err = err
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		e.Offset = syn.Offset
	}
	return e
}
