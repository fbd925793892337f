//go:build !linux

package engine

import "errors"

const niceSupported = false

func lowerThreadPriority(int) error {
	return errors.New("engine: decode nice is supported on Linux only")
}

func onMainThread() bool { return false }
