package modelgen

import (
	"path/filepath"
	"testing"
)

func TestShapes(t *testing.T) {
	// CausalLM 14B's model card gives 14.17B parameters.
	if p := CausalLM14B().Params(); p < 14_160_000_000 || p > 14_180_000_000 {
		t.Errorf("CausalLM14B has %d parameters, want 14.17B", p)
	}
	if p := Small().Params(); p < 240_000_000 || p > 250_000_000 {
		t.Errorf("Small has %d parameters, want 246M", p)
	}
	// The 14B shape at a fraction of its size: what WriteRandom checks of
	// the shape passes, and a Qwen-sized vocabulary can be built.
	r := CausalLM14B()
	r.Embd, r.Heads, r.HeadsKV, r.FF, r.Blocks, r.Type = 128, 1, 1, 64, 1, "f32"
	if err := WriteRandom(filepath.Join(t.TempDir(), "m.gguf"), r); err != nil {
		t.Fatal(err)
	}
}
