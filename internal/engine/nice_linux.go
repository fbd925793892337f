package engine

import "syscall"

const niceSupported = true

// lowerThreadPriority adds n to the niceness of the calling thread (not the
// process: on Linux, setpriority with a thread id applies to that thread).
// Threads it starts afterwards, such as ggml's workers, inherit it.
func lowerThreadPriority(n int) error {
	tid := syscall.Gettid()
	cur, err := syscall.Getpriority(syscall.PRIO_PROCESS, tid)
	if err != nil {
		return err
	}
	// The raw system call returns 20 - nice.
	return syscall.Setpriority(syscall.PRIO_PROCESS, tid, min(19, 20-cur+n))
}

// onMainThread reports whether the calling thread is the process's first.
func onMainThread() bool { return syscall.Gettid() == syscall.Getpid() }
