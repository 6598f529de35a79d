// Package letter is the inner letter: what a person writes, its signed
// header and trailer, and how it is sealed to the recipient's and the
// sender's epoch keys with age and opened again.
//
// A sealed letter is an age file (hybrid ML-KEM-768 + X25519 recipients,
// exactly two stanzas) whose plaintext is: a magic line, the header (who,
// to whom, sequence number, subject, and each part's name, type and size),
// each part in full (body first, then attachments), a trailer with each
// part's digest and the sending device's signature over header and
// digests, then zero padding up to envelope.PaddedSize.
//
// Parts are read once: Seal hashes each part as it seals it, and Open
// hashes each part as it decrypts it, on a second goroutine for large
// parts, so that hashing and encryption use two cores. Nothing is held
// whole in memory: a 1 GiB attachment streams through Seal and Open. Open
// hands content to its caller before the trailer is verified, so callers
// write parts to temporary storage and keep them only when Open succeeds.
//
// The byte layout is in docs/PROTOCOL.md.
package letter
