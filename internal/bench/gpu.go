package bench

import (
	"fmt"
	"os"
	"strings"

	"github.com/sieve-project/sieve/internal/engine"
)

// gpuUse says whether a GPU computed: a CUDA device is there and the
// model took memory on it, with every layer asked for (-1) at least 90 %
// of the model file (before and after are every GPU's memory before the
// model loaded and once it ran).
func gpuUse(layers int, model int64, before, after []engine.Memory) gpuRow {
	c := engine.CUDAStatus()
	row := gpuRow{GPULayers: layers, Archs: c.Archs, Reason: c.Reason}
	for _, g := range c.Devices {
		d := fmt.Sprintf("%s %s", g.Name, g.Description)
		if g.Compute != "" {
			d += ", compute " + g.Compute
		}
		row.Devices = append(row.Devices, d)
	}
	for _, a := range after {
		for _, b := range before {
			if a.Device == b.Device && b.Free > a.Free {
				row.VRAMBytes += int64(b.Free - a.Free)
			}
		}
		row.VRAMTotal += int64(a.Total)
	}
	switch {
	case len(c.Devices) == 0:
	case layers == 0:
		row.Reason = "--gpu-layers is 0: the model stays on the CPU"
	case row.VRAMBytes == 0:
		row.Reason = "the model took no GPU memory"
	case layers < 0 && row.VRAMBytes < model*9/10:
		row.Reason = fmt.Sprintf("every layer was asked for, but the GPU holds %.2f GiB of a %.2f GiB model", float64(row.VRAMBytes)/(1<<30), float64(model)/(1<<30))
	default:
		row.Used = true
	}
	return row
}

func modelSize(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}

func (g gpuRow) String() string {
	if !g.Used {
		if len(g.Devices) > 0 {
			return fmt.Sprintf("not used (%s), found %s", g.Reason, strings.Join(g.Devices, "; "))
		}
		return "none (" + g.Reason + ")"
	}
	return fmt.Sprintf("%s, built for %s; %d layers asked (-1 = all), %.2f GiB of %.1f GiB taken", strings.Join(g.Devices, "; "), strings.Join(g.Archs, " "), g.GPULayers,
		float64(g.VRAMBytes)/(1<<30), float64(g.VRAMTotal)/(1<<30))
}
