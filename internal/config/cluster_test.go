package config

import (
	"testing"

	"github.com/nats-io/nats-server/v2/server"
)

// TestClusterExample: the README's multi-machine files parse, and say
// what the README says they do.
func TestClusterExample(t *testing.T) {
	c, err := Load("../../testdata/cluster/sieve.toml")
	if err != nil {
		t.Fatal(err)
	}
	n := c.NATS
	if n.Replicas != 3 || n.InboxPrefix != "_INBOX_worker" || n.User != "worker" || n.URL == "" {
		t.Fatalf("nats settings %+v", n)
	}
	if l := c.Filter.Lists[0]; l.Action != "block" || l.Reveal != nil {
		t.Fatalf("list %+v: want a block list that keeps its words secret by default", l)
	}
	o, err := server.ProcessConfigFile("../../testdata/cluster/nats-node.conf")
	if err != nil {
		t.Fatal(err)
	}
	if !o.JetStream || o.Cluster.Name != "sieve" || len(o.Routes) != 3 || len(o.Users) != 4 {
		t.Fatalf("node: jetstream %v cluster %q routes %d users %d", o.JetStream, o.Cluster.Name, len(o.Routes), len(o.Users))
	}
}
