package job

import "fmt"

// Fit encodes r (Marshal) in at most limit bytes: when it is larger, the
// hit lists are cut, keeping the first hits of each side in proportion,
// and the Omitted counts say how many were left out. Nothing else is
// dropped. It fails only when r does not fit without any hit.
func Fit(r Result, limit int) ([]byte, error) {
	b, err := Marshal(r)
	if err != nil || len(b) <= limit {
		return b, err
	}
	in, out := r.Filter.Input, r.Filter.Output
	cut := func(keep int) ([]byte, error) {
		c := r
		ki := min(len(in), keep*len(in)/max(1, len(in)+len(out)))
		ko := min(len(out), keep-ki)
		c.Filter.Input, c.Filter.Output = in[:ki], out[:ko]
		c.Filter.InputOmitted = r.Filter.InputOmitted + len(in) - ki
		c.Filter.OutputOmitted = r.Filter.OutputOmitted + len(out) - ko
		return Marshal(c)
	}
	// The most hits that fit: the encoding grows with them.
	lo, hi := 0, len(in)+len(out)
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if b, err := cut(mid); err == nil && len(b) <= limit {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	b, err = cut(lo)
	if err != nil {
		return nil, err
	}
	if len(b) > limit {
		return nil, fmt.Errorf("the result is %d bytes without its hits, over the %d a NATS message may carry", len(b), limit)
	}
	return b, nil
}
