module github.com/sieve-project/sieve

go 1.26.8

require github.com/ollama/ollama v0.11.4

require (
	github.com/BurntSushi/toml v1.6.0 // indirect
	golang.org/x/sync v0.25.0 // indirect
	golang.org/x/text v0.44.0 // indirect
)
