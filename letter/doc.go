// Package letter is the inner letter: what a person writes, its signed
// header, and how it is sealed to the recipient's and the sender's epoch
// keys with age and opened again.
//
// A sealed letter is an age file (hybrid ML-KEM-768 + X25519 recipients,
// exactly two stanzas) whose plaintext is: a magic line, the signed header,
// then each part (body first, then attachments) streamed in full, then zero
// padding up to envelope.PaddedSize. Parts are hashed before sealing and
// their digests are in the signed header, so the receiver verifies the
// sender's signature before it reads a byte of content and each part's
// digest as soon as that part ends. Nothing is held whole in memory: a
// 1 GiB attachment streams through Seal and Open.
//
// The byte layout is in docs/PROTOCOL.md.
package letter
