package config

import _ "embed"

// Example is a complete, commented configuration that Parse accepts;
// "sieve config example" prints it.
//
//go:embed example.toml
var Example string
