// Package store keeps the relay's state in NATS JetStream: a nats-server
// embedded in the relay process (a single node with no listener, or one
// node of a cluster, cluster.go; an in-process connection either way), or
// an external NATS server (Config.URL). It files rosters, channels,
// envelopes with their bodies and receipts. It never interprets what it stores: envelope headers, bodies
// (ciphertext) and receipts are opaque bytes, and it never logs them.
//
// # Layout
//
// Every stream is file-backed. Unless Config.NoSync is set, the server runs
// with SyncAlways, so every write is fsynced before JetStream acknowledges it.
//
//	stream ROSTERS   roster.<party>              every roster version of a party, oldest first
//	KV     channels  <a>.<b> (a < b)             one key per open channel
//	stream MAIL      mail.<id>                   one message per envelope: metadata in Bt-* headers,
//	                                             payload = envelope header || body (if inline)
//	object bodies    <id>                        bodies larger than Config.InlineLimit, in the
//	                                             Object Store format (see putBody)
//	stream BOX       box.<to>.<prec>.<id>        one entry per envelope not yet delivered:
//	                                             same Bt-* headers plus Bt-Seq, payload = envelope header
//	stream RCPT      rcpt.<sender>.<kind>.<id>   receipts, read by the sending party
//	KV     meta      checkpoint[.<node>]         how far BOX is known to agree with MAIL and RCPT
//	                                             (on a cluster, one key per node: repair.go)
//	                 seen.<from>.<to>            when the newest logged letter went that way (seen.go)
//	stream LOG       log.leaf                    the log's leaves in order (log.go): leaf data, with
//	                                             Bt-Source and Bt-Source-Seq naming the record
//
// MAIL, RCPT, ROSTERS and LOG are records: they deny deletes and purges.
//
// # Commit points and idempotency
//
// The MAIL message is the commit point of a letter. A large body is first
// streamed into the object store, checked against its declared size and
// SHA-256 on the way, and only then is the MAIL message published. Because
// the subject mail.<id> holds exactly one message (published with
// Nats-Msg-Id = id and Nats-Expected-Last-Subject-Sequence = 0), Lookup is a
// direct get of that subject. It works forever, after the duplicate window
// and after a restart, with no separate index that could fall behind.
// Concurrent posts of one id inside this process are serialised by a per-id
// lock, so they never write the same body object at once.
//
// The RCPT message is the commit point of a receipt, keyed the same way
// (rcpt.<sender>.<kind>.<id>, Nats-Msg-Id = <id>.<kind>).
//
// # The mailbox (BOX) and crashes
//
// Pending must not read a party's whole history, so BOX holds one small entry
// per envelope that still waits for its delivered receipt. The entry is
// written right after the MAIL message and purged right after the delivered
// receipt. Post returns once the MAIL message is durable, the commit point,
// and files the entry in the background: a letter acknowledged as posted
// is durable, and its entry follows within a replication round. Until
// then the letter's id stays locked (a receipt for it through this store
// waits), Pending of its recipient on this store waits for it (for up to
// filingWait), and Close waits for it. On a cluster, Pending through
// another node may miss an entry still being filed, for that moment; the
// event stream announces it once it is written. A crash between the two steps would leave BOX out of step with
// MAIL or RCPT. So the store keeps a checkpoint (MAIL seq, RCPT seq) up to
// which BOX is known to be right. It is written every checkpointEvery while
// nothing is half done, and at Close. Open replays MAIL and RCPT after the
// checkpoint, adds the missing entries, removes those already delivered, and
// only then serves. A second step that fails without a crash stops the
// checkpoint from advancing until the next Open; posting the letter or
// filing the receipt again also finishes it. With Config.NoSync a crash may
// lose any recent write and no promise is made.
//
// Pending reads BOX through an ephemeral consumer, which nats-server
// places on any one of the stream's servers. A server that is catching up
// after a restart can list entries that the leader has already removed
// (letters delivered meanwhile), so Pending keeps only those that the
// stream's leader holds (current); while the stream has no leader it
// serves the listing as read. Such a server can also leave out entries
// filed while it was down, until it has caught up; the event stream
// announced those letters.
//
// # Group commit
//
// With SyncAlways every JetStream write waits for an fsync, and a letter
// takes two. So concurrent posts share their fsyncs: Post hands its MAIL
// message to the committer goroutine of MAIL and waits for it; then its
// filing hands the BOX entry to the committer of BOX. The two steps keep
// their order. Each
// committer gathers what is queued, plus what is announced as on its way
// (a post announces its MAIL message right after its id lock and its BOX
// entry before its MAIL message), until it holds Config.CommitBatch
// messages, Config.CommitWindow has passed since the first, or nothing more
// is on its way. It publishes them as one JetStream atomic batch (streams
// MAIL and BOX allow atomic publish; headers Nats-Batch-Id,
// Nats-Batch-Sequence, Nats-Batch-Commit on core NATS, with the PubAck of
// the commit message as the answer). The server stores the batch whole or
// not at all, contiguously and with one fsync, so that answer gives every
// message its sequence. An atomic batch has a fixed cost (the server stages
// it in a file store of its own), so a group smaller than Config.CommitMin
// goes back to its posts, which publish their messages one by one as
// before; a lone post is never delayed. With NoSync there is no fsync to
// share and posts never batch unless CommitMin says so. With replicas, a
// write's cost is its replication round, which a batch pays once whatever
// its size, so there batches start from two messages.
//
// Nats-Msg-Id and Nats-Expected-Last-Subject-Sequence work inside a batch,
// but one conflicting message makes the server refuse the whole batch, and
// so does a subject that appears twice. The id lock keeps a second post of
// an id out of the batch within one store; should two messages for one
// subject meet anyway, the committer publishes the first and answers the
// second as its duplicate. A post whose MAIL message comes back as a
// duplicate, or refused for its expected subject sequence, reads the
// stored message: if it carries the post's own random nonce (header
// Bt-Post), it is an earlier try of the same publish whose answer was
// lost, and the post goes on to file it; otherwise the post gets the
// original with ErrDuplicate. So a post of an inline letter needs no read
// before its write. A large body is looked up first, so that a repost is
// not streamed again. If the server refuses a batch, nothing of it is stored, and
// each post publishes its message again on its own, so one bad message
// cannot fail the others. If the outcome is unknown (a timeout), each post
// looks its letter up, as after a lone publish.
//
// Crash safety does not change: a post, then its filing, holds the
// checkpoint lock shared from its MAIL message until its BOX entry is
// durable, so the checkpoint
// never passes a letter whose entry may be missing, and Open's repair files
// it. A crash during a batch leaves none of it, or, if the server had begun
// appending the batch to the stream, the server completes it from its
// staged copy when it starts again, before the repair.
//
// Only one Store may use a Dir at a time.
//
// On a cluster (cluster.go) every stream has three replicas, and a write is
// acknowledged once a quorum stored it. A request whose stream leader died
// is sent again (each message is idempotent, by Nats-Msg-Id or an expected
// sequence), and a read that misses on a replica that is behind is asked
// again of the stream's leader.
//
// Watch is a core NATS subscription on note.box.<party>.*.*, where a
// letter is announced once its BOX entry is durable (by its post's filing,
// or by a repair or a repost that files it again), together with the
// watchers on the store that stored the letter, which hear of it as soon
// as it is durable, before its entry is filed (watch.go). A recipient's
// delivered receipt through the same store waits for the letter's id
// lock, so for the entry. Through another store it could come first, and
// that store's purge would find no entry to take out; so the filing of a
// letter announced early, where other stores share the streams, reads
// the delivered receipt from the leader of RCPT after writing the entry,
// and takes the entry out again if the receipt is there. Announcing every
// letter that early on every node would need that read for every letter.
package store
