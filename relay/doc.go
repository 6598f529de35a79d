// Package relay is the postman: an HTTPS service that accepts envelopes
// from the devices of admitted parties, makes them durable in the store
// before answering with a signed posted receipt, holds them in mailboxes,
// delivers them by push (server-sent events) or polling, and files the
// receivers' signed receipts for the senders.
//
// The relay imports package envelope and never package letter: it has no
// code path that could open a letter.
//
// # Authentication
//
// Every connection is TLS 1.3 with a client certificate. A device presents
// a self-signed certificate for its Ed25519 roster key and names itself in
// the Brief-Party and Brief-Device request headers; the relay checks the
// key against the party's roster. The operator's tools present the relay's
// admin key. Clients pin the SHA-256 of the relay's certificate.
//
// The HTTP API is documented in docs/PROTOCOL.md.
package relay
