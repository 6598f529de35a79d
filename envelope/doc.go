// Package envelope is the outer form of a letter, the only form the relay
// sees: who it is from and to, its precedence, its padded size and the
// digest of its ciphertext, signed by the sending device. It also holds
// receipts, the signed evidence of each step a letter takes.
//
// This package has no way to open a letter: the relay imports it and never
// imports package letter.
//
// The byte layouts and their domain-separation contexts are in
// docs/PROTOCOL.md.
package envelope
