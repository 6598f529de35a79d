// Package identity holds who is who in Brieftraeger: party names, device
// keys, rosters, epoch keys and the passphrase-sealed keystore.
//
// # Keys
//
// A party has an Ed25519 root key. The root key signs the party's
// [Roster], the list of its devices and current epoch keys. Each roster
// version names the root key that must sign the next one, so the chain can
// run for decades and survive a root rotation.
//
// A device has an Ed25519 signing key, with which it signs envelopes,
// letters and receipts, and an age hybrid (ML-KEM-768 + X25519) identity,
// to which the party's epoch secrets are sealed.
//
// An epoch key is an age hybrid identity. Letters are sealed to epoch keys,
// never to devices, so that a letter carries two stanzas (recipient party
// and sender party) however many devices each party has. The epoch secret is
// sealed to every device on the roster with [SealEpoch].
//
// # At rest
//
// Device secrets are kept in a [Keystore], sealed with age's scrypt
// recipient under a passphrase and never written in clear.
//
// The byte layouts are in docs/PROTOCOL.md.
package identity
