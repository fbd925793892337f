package filter

import "sync/atomic"

// Holder holds the Filter in force and swaps it atomically on reload.
// Streams keep the Filter they were made from, so a reload never changes a
// text half way. A Holder is safe for concurrent use.
type Holder struct {
	cur atomic.Pointer[Filter]
}

// NewHolder returns a Holder with f in force.
func NewHolder(f *Filter) *Holder {
	h := &Holder{}
	h.cur.Store(f)
	return h
}

// Filter returns the Filter in force.
func (h *Holder) Filter() *Filter { return h.cur.Load() }

// Reload compiles specs and puts them in force. If compiling fails, the
// lists in force stay as they are and the error says why.
func (h *Holder) Reload(specs []ListSpec, opts Options) error {
	f, err := Compile(specs, opts)
	if err != nil {
		return err
	}
	h.cur.Store(f)
	return nil
}
