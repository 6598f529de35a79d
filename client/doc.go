// Package client is a party's device: its local state (keys, pinned
// contacts, sequence numbers, sent letters and their receipts, the archive
// of opened letters) and its connection to the relay.
//
// # Local state
//
// A party folder holds:
//
//	keys.age               the device keystore, sealed with a passphrase
//	roster                 the party's own signed roster, its newest version
//	rosters/N              every version of it this device has followed (ownroster.go)
//	rosterchanges.json     per party: the roster changes seen and told (rosterchanges.go)
//	join.age, join-request a device waiting to join its party: its keystore and join request (join.go)
//	epochs/N.age           epoch secrets, sealed to the roster's devices; removed once the roster drops the epoch
//	epochs/destroyed.json  the epochs this device destroyed, and when (epochs.go)
//	relay.json             the relay's descriptor and address
//	contacts/P.json        another party's pinned root key and verified roster chain, oldest first, and the safety
//	                       number the user confirmed (verify.go)
//	invitations/L.json     an invitation this device made, by its lookup L: the code (needed to check the answer),
//	                       the invited party and the expiry; removed when done, expired, burnt or withdrawn (invite.go)
//	invitation-P.png       the QR image of the latest invitation to P, unless 'brief invite create --qr' wrote it elsewhere
//	records.db             the device's records (SQLite, records.go): sequence numbers (taken per party written to,
//	                       received per party and device, gaps.go), the outbox,
//	                       every letter sent and opened with its receipts, receipts set aside, the search index
//	sent/ID.age            the letter as sealed and posted, if over 256 KiB (a smaller one's is in records.db); kept
//	                       for the outbox and the record, not for heartbeats and test letters once posted
//	sent/ID/               a sent letter opened again from its sealed copy (OpenSent): body.txt, files/, letter.json (its header as signed)
//	locks/post-P           the post lock of the channel to P: its letters go out one at a time, in order
//	locks/read             the reading lock (readlock.go): one process at a time reads letters from the relay
//	locks/roster           the roster lock: one roster change at a time from this folder (devices.go)
//	log.json               the latest checkpoint of the relay's log this device accepted
//	heartbeats.json        per channel: the last heartbeat sent, delivered (with its round trip) and received
//	testletters.json       per channel: the last test letter sent, acknowledged (with its receipts' times) and received
//	archive/ID/            each letter opened: letter.age (the ciphertext as it came), body.txt, files/
//	migrated/              the JSON records of a folder from before records.db, kept once moved into it (migrate.go)
//	tmp/                   spooled ciphertext and letters being opened
//	lock                   the folder lock (flock), shared by all processes
//
// Every file is written to a temporary name, synced and renamed, so a
// crash leaves either the old or the new version. Every change to
// records.db is one transaction (IMMEDIATE; fsynced where a power cut
// must not lose it, records.go), so processes sharing the folder (a send
// next to a receipt collection) never undo each other's changes and a
// sequence number is never handed out twice.
//
// A letter's sealed copy (sent/ID.age, or in records.db) and its record
// (state "queued") are written before the letter is posted; the relay's
// posted receipt is added when it arrives. A crash after the relay committed the letter thus still
// leaves a record for its later receipts, and a letter the relay could not
// take waits in the outbox, posted later in sequence order (outbox.go). If
// posting fails, the record keeps the error in post_error.
//
// CollectReceipts moves the receipt cursor past every receipt it fetched.
// A receipt for a letter with no record on this device (sent by another
// device of the party) or one that fails verification is not recorded with
// a letter but set aside (RefusedReceipts): the relay's receipt sequence
// number, the letter id and receipt kind if it parsed, why it was refused,
// and the receipt as the relay returned it.
//
// The device is a witness of the relay's log (log.go). SyncLog and
// VerifyLogged accept a checkpoint only if it is signed by the relay's log
// key, for its log origin (both from relay.json), and, after the first,
// consistent with the one in log.json; inclusion proofs are verified
// against it. A checkpoint that cannot follow the kept one is an
// *InconsistentLogError, an alarm; log.json is then left unchanged.
// log.json is written under the folder lock, and only if no other process
// changed it while the relay was asked.
//
// A letter is of a Kind (kind.go): a person's letter, or a heartbeat or a
// test letter, which a device sends on its own. A received letter is a
// heartbeat or a test letter only if it is exactly of that form (subject,
// IMMEDIATE, body text, its one JSON part and at most the log checkpoint;
// no office, thread or reply-to; docs/PROTOCOL.md); any other letter that
// carries such a part is a person's letter. The kind is judged once, when
// the letter is opened, and kept in its record; a sent letter's kind is
// set by the code that sent it and kept in its record. Receive sets New
// on the record it returns if it opened the letter: a letter read again,
// or opened meanwhile by another process, is not new.
//
// A heartbeat (heartbeat.go) is an ordinary letter, precedence IMMEDIATE,
// subject "heartbeat", with a HeartbeatMediaType part {"sent_at",
// "interval_s"}. SendHeartbeat records it in heartbeats.json; Receive
// records an opened one (NoteHeartbeat); Status fills in round trips
// (sealing to the delivered receipt's time) from receipts CollectReceipts
// recorded, and judges each channel green, amber or red at the party's
// clock. heartbeats.json is changed under the folder lock.
//
// A test letter (testletter.go) is an ordinary letter too, precedence
// IMMEDIATE, subject "test letter", with a TestLetterMediaType part
// {"sent_at", "nonce"}. SendTestLetter records it in testletters.json with
// the time by which its acknowledged receipt is due; Receive records an
// opened one and sends its acknowledged receipt at once (NoteTestLetter),
// and AckTestLetters retries that receipt if it failed. Status fills in
// the posted, delivered and acknowledged receipts' times of the test
// letters sent and lists those past due as missing.
//
// What brief watch asks on every tick (OverdueLetters, PendingLetters,
// UnacknowledgedLetters, Outbox) is one indexed query each on the columns
// of records.db's letters table (box, kind, state, receipts), never a read
// of every letter sent or opened.
//
// An opened letter is staged in tmp/, its files, its files/ folder and the
// stage folder are synced, and only then is the stage renamed into
// archive/ (and archive/ synced) and the delivered receipt sent. The
// ciphertext is kept beside it as letter.age, so that Export can file the
// letter as it travelled and the stock age tool can open it. Load
// removes whatever interrupted operations left in tmp/, except entries a
// running operation holds locked and entries younger than a minute (one
// may be made and not yet locked).
//
// A sent letter is kept only sealed (sent/ID.age, or records.db's sealed
// for a small one; sealed to this party's own epoch key too). OpenSent opens it with this device's epoch keys,
// checked as Receive checks a letter (the envelope's size and digest,
// this device's signature, the header against the envelope), staged in
// tmp/ and renamed to sent/ID/, which is thus complete or absent; once
// there, it is not opened again. Show puts together what the device holds
// of a letter, sent or received; Reply answers one in its thread (the id
// of the letter that started it, or of the letter itself); List lists and
// searches the records (list.go).
package client
