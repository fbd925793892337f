// Package batch runs a file of jobs to a file of results: it reads JSONL
// jobs (full jobs, or bare {"prompt": ...} lines), gives lines without an
// id a stable one, skips jobs whose results an earlier run already wrote,
// keeps a bounded number in flight, and appends each result as one
// complete line, so an interrupted run leaves a valid file and the same
// command finishes it.
//
// How a job is run (NATS, an in-process worker) is the caller's: Run takes
// a submit function.
package batch

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/sieve-project/sieve/job"
)

// Defaults fill in what a line does not say.
type Defaults struct {
	// Run names the run, as the path of its output file: ids derived for
	// lines without one depend on it, so the same command over the same
	// files gives the same ids (and resumes), while another run gets fresh
	// ones (ids name jobs for as long as their results are kept).
	Run       string
	Limits    job.Limits // as the workers apply them, so lines are judged here as there
	System    string
	Policy    string
	MaxTokens *int
	job.Sampling
	Stop []string
}

// Line is one input line, ready to submit, or rejected with Err.
type Line struct {
	File    string
	N       int // 1-based line number
	ID      string
	Payload []byte // the job's JSON
	Err     *job.Error
}

// maxLine bounds one input line.
const maxLine = 16 << 20

// Read reads the jobs of one JSONL file. Blank lines are skipped. A line
// that is not a job becomes a Line with Err set, naming the file and line,
// so the run records it and goes on.
func Read(file string, d Defaults) ([]Line, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var lines []Line
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	for n := 1; sc.Scan(); n++ {
		raw := bytes.TrimSpace(sc.Bytes())
		if len(raw) == 0 {
			continue
		}
		lines = append(lines, parseLine(file, n, raw, d))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return lines, nil
}

func parseLine(file string, n int, raw []byte, d Defaults) Line {
	l := Line{File: file, N: n, ID: stableID(d.Run, file, n, raw)}
	fail := func(e *job.Error) Line {
		e.Message = fmt.Sprintf("%s:%d: %s", filepath.Base(file), n, e.Message)
		l.Err = e
		return l
	}
	// The line as written: below it is decoded into a map, which would
	// keep one of two equal names and fold none.
	if e := job.CheckSyntax(raw, "prompt"); e != nil {
		return fail(e)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return fail(&job.Error{Code: job.CodeInvalidJSON, Message: "not a JSON object: " + err.Error()})
	}
	// A line's own id must be one the queue takes; any other value (a
	// number, "", an id sieve keeps for itself) is the line's error, as
	// it would be the job's on NATS, and the line keeps its stable id.
	if idRaw, ok := obj["id"]; ok {
		var id string
		if json.Unmarshal(idRaw, &id) != nil || id == "" {
			return fail(&job.Error{Code: job.CodeBadID, Message: fmt.Sprintf(`"id" is %s: give the job's id as a string, or leave "id" out`, idRaw)})
		}
		if e := job.CheckQueuedID(id); e != nil {
			return fail(e)
		}
		l.ID = id
	}
	obj["id"], _ = job.Marshal(l.ID)
	if p, ok := obj["prompt"]; ok {
		if _, has := obj["messages"]; has {
			return fail(&job.Error{Code: job.CodeBadField, Message: `a line has "prompt" or "messages", not both`})
		}
		var prompt string
		if err := json.Unmarshal(p, &prompt); err != nil {
			return fail(&job.Error{Code: job.CodeBadField, Message: `"prompt" must be a string`})
		}
		msgs := []job.Message{{Role: job.RoleUser, Content: prompt}}
		if d.System != "" {
			msgs = append([]job.Message{{Role: job.RoleSystem, Content: d.System}}, msgs...)
		}
		obj["messages"], _ = job.Marshal(msgs)
		delete(obj, "prompt")
	}
	set := func(key string, v any, present bool) {
		if _, ok := obj[key]; !ok && present {
			obj[key], _ = job.Marshal(v)
		}
	}
	set("policy", d.Policy, d.Policy != "")
	set("max_tokens", d.MaxTokens, d.MaxTokens != nil)
	// The sampling defaults by their wire names: only those set are
	// marshalled.
	var sampling map[string]json.RawMessage
	if b, err := job.Marshal(d.Sampling); err == nil && json.Unmarshal(b, &sampling) == nil {
		for k, v := range sampling {
			set(k, v, true)
		}
	}
	set("stop", d.Stop, len(d.Stop) > 0)
	payload, err := job.Marshal(obj)
	if err != nil {
		return fail(&job.Error{Code: job.CodeInvalidJSON, Message: err.Error()})
	}
	// The workers' verdict, given here, so a bad line is reported with
	// its line number.
	if _, e := job.Parse(payload, l.ID, d.Limits); e != nil {
		return fail(e)
	}
	l.Payload = payload
	return l
}

// stableID derives an id from the run, where a line is and what it says,
// so a rerun of the same command gives the same ids and can skip finished
// jobs.
func stableID(run, file string, n int, raw []byte) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%d\x00", run, filepath.Base(file), n)
	h.Write(raw)
	return "b-" + hex.EncodeToString(h.Sum(nil)[:10])
}

// Done returns the ids of the results already in the output file. A last
// line cut short by a crash is removed, so appending goes on from a
// complete line.
func Done(path string) (map[string]bool, error) {
	done := map[string]bool{}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		return done, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := bufio.NewReader(f)
	var good int64
	for {
		line, err := r.ReadBytes('\n')
		if err == io.EOF {
			if len(line) > 0 {
				// A partial line: cut it.
				if err := f.Truncate(good); err != nil {
					return nil, err
				}
			}
			return done, nil
		}
		if err != nil {
			return nil, err
		}
		var res struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(line, &res) == nil && res.ID != "" {
			done[res.ID] = true
		}
		good += int64(len(line))
	}
}

// Writer appends results as whole lines, in completion order or in input
// order. Safe for concurrent use.
type Writer struct {
	mu      sync.Mutex
	f       *os.File
	ordered bool
	next    int            // ordered: the index to write next
	pending map[int][]byte // ordered: finished, waiting for earlier ones
	skip    map[int]bool   // ordered: indexes with nothing to write (resumed)
}

// NewWriter opens path for appending. With ordered, Put(i, …) waits in
// memory until every index before i is written or skipped.
func NewWriter(path string, ordered bool) (*Writer, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	return &Writer{f: f, ordered: ordered, pending: map[int][]byte{}, skip: map[int]bool{}}, nil
}

// Skip marks index i as having nothing to write.
func (w *Writer) Skip(i int) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.skip[i] = true
	return w.flush()
}

// Put writes result r for input index i.
func (w *Writer) Put(i int, r job.Result) error {
	b, err := job.Marshal(r)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.ordered {
		_, err := w.f.Write(b) // one write per line: O_APPEND keeps lines whole
		return err
	}
	w.pending[i] = b
	return w.flush()
}

func (w *Writer) flush() error {
	if !w.ordered {
		return nil
	}
	for {
		if w.skip[w.next] {
			delete(w.skip, w.next)
			w.next++
			continue
		}
		b, ok := w.pending[w.next]
		if !ok {
			return nil
		}
		if _, err := w.f.Write(b); err != nil {
			return err
		}
		delete(w.pending, w.next)
		w.next++
	}
}

// Close syncs and closes the file. Results held for order are not
// written: the next run redoes them.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.f.Sync(); err != nil {
		w.f.Close()
		return err
	}
	return w.f.Close()
}

// Summary counts a run.
type Summary struct {
	Total, Skipped, Done int
	ByStatus             map[job.Status]int
	Tokens               int
	HitsByList           map[string]int
	Elapsed              time.Duration
}

// Submit runs one job and returns its result.
type Submit func(ctx context.Context, l Line) (job.Result, error)

// Run submits every line not in done, at most inFlight at a time, writes
// each result, and calls progress after each. It stops early when ctx is
// done; what finished is written, the rest is for the next run.
func Run(ctx context.Context, lines []Line, done map[string]bool, inFlight int, submit Submit, w *Writer, progress func(Summary)) (Summary, error) {
	s := Summary{Total: len(lines), ByStatus: map[job.Status]int{}, HitsByList: map[string]int{}}
	start := time.Now()
	var mu sync.Mutex
	var firstErr error
	record := func(i int, r job.Result) {
		if err := w.Put(i, r); err != nil && firstErr == nil {
			firstErr = err
		}
		s.Done++
		s.ByStatus[r.Status]++
		s.Tokens += r.Usage.CompletionTokens
		for _, h := range append(r.Filter.Input, r.Filter.Output...) {
			s.HitsByList[h.List]++
		}
		s.Elapsed = time.Since(start)
		if progress != nil {
			progress(s)
		}
	}
	sem := make(chan struct{}, inFlight)
	var wg sync.WaitGroup
	seen := map[string]int{}
loop:
	for i, l := range lines {
		if done[l.ID] {
			mu.Lock()
			s.Skipped++
			w.Skip(i)
			mu.Unlock()
			continue
		}
		if prev, dup := seen[l.ID]; dup {
			l.Err = &job.Error{Code: job.CodeDuplicateID, Message: fmt.Sprintf("%s:%d: id %q is also on line %d", filepath.Base(l.File), l.N, l.ID, prev)}
			l.ID = stableID("duplicate", l.File, l.N, l.Payload)
		}
		seen[l.ID] = l.N
		if l.Err != nil {
			mu.Lock()
			record(i, job.Result{ID: l.ID, Status: job.Rejected, FinishReason: "error", Error: l.Err,
				Filter: job.FilterReport{Input: []job.Hit{}, Output: []job.Hit{}}})
			mu.Unlock()
			continue
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			break loop
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			r, err := submit(ctx, l)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if ctx.Err() == nil && firstErr == nil {
					firstErr = fmt.Errorf("job %s (%s:%d): %w", l.ID, filepath.Base(l.File), l.N, err)
				}
				return // not written: the next run does it again
			}
			record(i, r)
		}()
	}
	wg.Wait()
	s.Elapsed = time.Since(start)
	return s, firstErr
}

// Lists returns the summary's lists in name order.
func (s Summary) Lists() []string {
	names := make([]string, 0, len(s.HitsByList))
	for n := range s.HitsByList {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
