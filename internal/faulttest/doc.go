// Package faulttest holds the fault tests of a relay cluster: three relay
// nodes, each a separate process of this test binary, on 127.0.0.1,
// 127.0.0.2 and 127.0.0.3, joined by routes; letters flow through them
// while a test kills, restarts or partitions nodes. The receiving device
// opens letters as their events arrive (from the event itself where it
// carries the envelope) and polls the mailbox besides. It has no code
// outside its tests.
package faulttest
