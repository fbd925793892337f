package engine

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// AutoNice asks Load to choose the decode threads' niceness; see
// Config.DecodeNice.
const AutoNice = -1

// defaultThreads is the thread count for Config.Threads 0: one per
// physical core, as llama.cpp's own tools choose (a second hyperthread
// on a core adds little to memory-bound decoding and slows its barriers),
// and no more than the CPUs this process may use (Go's GOMAXPROCS, which
// follows the affinity mask and a cgroup's CPU limit, as in a container).
func defaultThreads() int {
	usable := runtime.GOMAXPROCS(0)
	if cores := physicalCores("/sys/devices/system/cpu"); cores > 0 {
		return max(1, min(cores, usable))
	}
	return usable
}

// physicalCores counts the distinct sets of hyperthread siblings under
// sysfs (Linux), or returns 0 where there is no such folder.
func physicalCores(sysfs string) int {
	paths, _ := filepath.Glob(filepath.Join(sysfs, "cpu[0-9]*", "topology", "thread_siblings"))
	sets := make(map[string]bool)
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		sets[strings.TrimSpace(string(b))] = true
	}
	return len(sets)
}

// autoNice is the niceness AutoNice resolves to. When the decode threads
// take every CPU the process may use and the model runs on the CPU, the
// chunk path (the worker's publish, the NATS server, subscribers in the
// process) would otherwise wait for a time slice of a decode thread at
// each hop, milliseconds each (BENCHMARKS.md). At niceness 19 it preempts
// them as soon as it wakes; decoding then also yields to every other
// process, which is why it is not done when CPUs are left over, or when a
// GPU does the work.
func autoNice(threads, usable, gpuLayers int) int {
	if !niceSupported || gpuLayers != 0 || threads < usable {
		return 0
	}
	return 19
}
