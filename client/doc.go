// Package client is a party's device: its local state (keys, pinned
// contacts, sequence numbers, sent letters and their receipts, the archive
// of opened letters) and its connection to the relay.
//
// # Local state
//
// A party folder holds:
//
//	keys.age          the device keystore, sealed with a passphrase
//	roster            the party's own signed roster
//	epochs/N.age      epoch secrets, sealed to the roster's devices
//	relay.json        the relay's descriptor and address
//	contacts/P.json   another party's pinned root key and verified roster
//	state.json        per-channel sequence numbers and receipt cursor
//	sent/ID.json      each letter sent, with every receipt collected
//	archive/ID/       each letter opened: letter.json, body.txt, files/
//
// Every file is written to a temporary name, synced and renamed, so a
// crash leaves either the old or the new version.
package client
