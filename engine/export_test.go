package engine

// FreeContext lets the benchmarks, which drive the binding directly, free
// the contexts they make.
var FreeContext = freeContext
