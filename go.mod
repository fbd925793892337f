module github.com/sieve-project/sieve

go 1.26.8

require (
	github.com/BurntSushi/toml v1.6.0
	github.com/cloudflare/ahocorasick v0.0.0-20240916140611-054963ec9396
	github.com/ollama/ollama v0.11.4
	golang.org/x/text v0.44.0
)

require golang.org/x/sync v0.25.0 // indirect
