package relay

import (
	"testing"

	"brieftraeger/store"
)

// TestClusterPeers counts the nodes of two streams' replicas: n3 is behind
// in one of them, so it is a peer but not a current one.
func TestClusterPeers(t *testing.T) {
	state := []store.StreamReplicas{
		{Stream: "MAIL", Replicas: []store.Replica{{Node: "n1", Leader: true, Current: true}, {Node: "n2", Current: true}, {Node: "n3", Current: true}}},
		{Stream: "BOX", Replicas: []store.Replica{{Node: "n2", Leader: true, Current: true}, {Node: "n1", Current: true}, {Node: "n3", Lag: 9}}},
		{Stream: "LOG"}, // no leader: no replicas listed
	}
	if peers, current := clusterPeers(state); peers != 3 || current != 2 {
		t.Fatalf("peers %d, current %d; want 3 and 2", peers, current)
	}
	if peers, current := clusterPeers(nil); peers != 0 || current != 0 {
		t.Fatalf("no state: peers %d, current %d", peers, current)
	}
}
