package engine

import (
	"sync/atomic"
	"syscall"
)

// FreeContext lets the benchmarks, which drive the binding directly, free
// the contexts they make.
var FreeContext = freeContext

// OnMainThread makes the engine take the first thread its decode loop
// starts on for the process's main thread, whichever it is, and stores
// that thread's id in *tid.
func OnMainThread(tid *atomic.Int64) Option {
	return func(o *options) error {
		o.onMain = func() bool {
			if tid.CompareAndSwap(0, int64(syscall.Gettid())) {
				return true
			}
			return onMainThread()
		}
		return nil
	}
}
