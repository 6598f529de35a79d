// Package tlog is Brieftraeger's witnessed log: the building blocks that let
// both parties prove what the relay logged, in what order, and that they saw
// the same history. It has no storage and no network code: the relay keeps
// its log with it (relay/log.go), and clients are to verify with it.
//
// # Entries and leaves
//
// Every envelope, receipt and roster version becomes a leaf. The log holds
// only hashes, never contents. An entry's hash is
//
//	EntryHash = SHA-256("brieftraeger/v1 log-entry" || "\n" || kind || raw)
//
// (identity.Hash with [ContextLogEntry]), and the leaf data is the 33 bytes
// kind || EntryHash, where kind is a [Kind]: 1 envelope, 2 receipt, 3 roster.
// The Merkle tree hashes leaves and nodes as RFC 6962 does, with its own
// 0x00 and 0x01 prefixes: leaf hash = SHA-256(0x00 || leaf data).
//
// # Tree
//
// [Tree] is an in-memory RFC 6962 tree built on
// github.com/transparency-dev/merkle. It keeps every leaf hash and the root
// of every complete subtree, so roots at any past size come from merkle's
// compact ranges and inclusion and consistency proofs come from merkle's
// proof package (proof.Inclusion, proof.Consistency, Nodes.Rehash) as
// lookups plus the few hashes of the one partial node.
//
// # Checkpoints
//
// A checkpoint is a C2SP tlog-checkpoint: a signed note
// (golang.org/x/mod/sumdb/note) whose text is
//
//	<origin>\n<tree size in decimal>\n<root in standard base64>\n
//
// signed by the log's Ed25519 note key ([GenerateLogKey], [NewLogKey],
// [Sign]). [ParseCheckpoint] is strict: exactly these three lines and the
// expected origin, given by the caller (the origin and the key name are
// separate things in C2SP, though the key name should equal the origin).
// Extension lines, which C2SP allows, are refused. Signature lines by
// other keys (cosignatures) are ignored, as the signed-note spec requires.
//
// # Verification and witnessing
//
// [VerifyInclusion] and [VerifyConsistency] check proofs with merkle's
// verifier. A [Witness] keeps the latest checkpoint a client accepted for
// one log; [Witness.Accept] refuses a smaller size, a different root at the
// same size (a split view) and a consistency proof that does not verify,
// each with its own error, and changes nothing when it refuses.
//
// # Cosignatures
//
// A party that accepted a checkpoint cosigns it ([Cosign]) in the C2SP
// tlog-cosignature "cosignature/v1" Ed25519 format and sends it to the other
// party, who checks it with [VerifyCosignature]. The cosignature is a note
// signature line
//
//	— <witness name> base64(key ID || u64 time || Ed25519 signature)
//
// with key ID = SHA-256(name || "\n" || 0x04 || public key)[:4], over the
// message "cosignature/v1\ntime <unix seconds>\n" || checkpoint note text.
// All of this is as the C2SP tlog-cosignature text states it (checked
// against the spec in the C2SP/C2SP repository; interoperability with
// another implementation has not been tested). The spec's ML-DSA-44
// cosignature type (subtree/v1) is not implemented.
//
// The fixed prefixes keep the signatures apart from every other Brieftraeger
// signature: a checkpoint text starts with an origin, which has no space
// (see [ValidOrigin]), and a cosigned message starts with "cosignature/v1\n",
// while every identity.Sign message starts with a context line that has a
// space in it. The log's note key should still be used for nothing else.
//
// # Proof encoding
//
// On the wire a proof is its hashes concatenated, 32 bytes each
// ([MarshalProof], [ParseProof]), at most [MaxProofHashes] of them.
package tlog
