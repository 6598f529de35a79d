package relay

import (
	"fmt"
	"io"

	"brieftraeger/store"
)

// writeClusterMetrics writes the cluster's state as this node sees it:
// which node leads each stream, and how current each replica is. A stream
// without a leader has no series; alert on
// absent(brief_cluster_stream_leader{stream="MAIL"}).
func writeClusterMetrics(w io.Writer, node string, logWriter bool, state []store.StreamReplicas) {
	family := func(name, typ, help string) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
	}
	family("brief_cluster_node", "gauge", "This relay node's name; 1 while it integrates the log.")
	fmt.Fprintf(w, "brief_cluster_node{node=\"%s\"} %d\n", escapeLabel(node), b2i(logWriter))
	family("brief_cluster_stream_leader", "gauge", "The node that leads each stream (1), as the stream's leader reports it.")
	for _, s := range state {
		for _, r := range s.Replicas {
			if r.Leader {
				fmt.Fprintf(w, "brief_cluster_stream_leader{stream=\"%s\",node=\"%s\"} 1\n", escapeLabel(s.Stream), escapeLabel(r.Node))
			}
		}
	}
	family("brief_cluster_replica_current", "gauge", "Whether each replica of each stream is seen and caught up (1) or not (0).")
	for _, s := range state {
		for _, r := range s.Replicas {
			fmt.Fprintf(w, "brief_cluster_replica_current{stream=\"%s\",node=\"%s\"} %d\n", escapeLabel(s.Stream), escapeLabel(r.Node), b2i(r.Current))
		}
	}
	if state != nil { // nil: the state could not be read, and 0 would mislead
		peers, current := clusterPeers(state)
		family("brief_cluster_peers", "gauge", "Nodes that hold a replica of the relay's streams, as this node sees them.")
		fmt.Fprintf(w, "brief_cluster_peers %d\n", peers)
		family("brief_cluster_peers_current", "gauge", "Those nodes whose every replica is seen and caught up.")
		fmt.Fprintf(w, "brief_cluster_peers_current %d\n", current)
	}
	family("brief_cluster_replica_lag", "gauge", "Operations each replica of each stream is behind its leader.")
	for _, s := range state {
		for _, r := range s.Replicas {
			fmt.Fprintf(w, "brief_cluster_replica_lag{stream=\"%s\",node=\"%s\"} %d\n", escapeLabel(s.Stream), escapeLabel(r.Node), r.Lag)
		}
	}
}

// clusterPeers counts the nodes holding a replica of any stream, and
// those whose every replica is current.
func clusterPeers(state []store.StreamReplicas) (peers, current int) {
	behind := map[string]bool{}
	for _, s := range state {
		for _, r := range s.Replicas {
			behind[r.Node] = behind[r.Node] || !r.Current
		}
	}
	for _, b := range behind {
		if !b {
			current++
		}
	}
	return len(behind), current
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
