// Package client is a party's device: its local state (keys, pinned
// contacts, sequence numbers, sent letters and their receipts, the archive
// of opened letters) and its connection to the relay.
//
// # Local state
//
// A party folder holds:
//
//	keys.age               the device keystore, sealed with a passphrase
//	roster                 the party's own signed roster
//	epochs/N.age           epoch secrets, sealed to the roster's devices
//	relay.json             the relay's descriptor and address
//	contacts/P.json        another party's pinned root key and verified roster chain, oldest first
//	state.json             per-channel sequence numbers sent and received, receipt cursor
//	sent/ID.json           each letter sent, with its state (queued, posted, refused) and every receipt collected
//	sent/ID.age            the letter as sealed and posted (kept for the outbox and the record; not for heartbeats and test letters once posted)
//	outbox.json            the ids of the letters waiting to be posted (outbox.go)
//	awaiting.json          the ids of the letters awaiting delivery (awaiting.go)
//	locks/post-P           the post lock of the channel to P: its letters go out one at a time, in order
//	unacknowledged.json    the ids of the letters sent, delivered and not yet acknowledged (unacknowledged.go)
//	pending.json           the ids of the letters opened here that no person has acknowledged yet (pending.go)
//	receipts-refused.json  receipts set aside by CollectReceipts
//	log.json               the latest checkpoint of the relay's log this device accepted
//	heartbeats.json        per channel: the last heartbeat sent, delivered (with its round trip) and received
//	testletters.json       per channel: the last test letter sent, acknowledged (with its receipts' times) and received
//	archive/ID/            each letter opened: letter.json, letter.age (the ciphertext as it came), body.txt, files/
//	tmp/                   spooled ciphertext and letters being opened
//	lock                   the folder lock (flock), shared by all processes
//
// Every file is written to a temporary name, synced and renamed, so a
// crash leaves either the old or the new version. A change to state.json,
// sent/ID.json, receipts-refused.json or an archived letter.json (a
// receipt added) reads the file afresh and writes it under the folder lock, so that processes sharing the folder (a send
// next to a receipt collection) never undo each other's changes and a
// sequence number is never handed out twice.
//
// A letter's sealed copy, sent/ID.age, and its record, sent/ID.json
// (state "queued"), are written before the letter is posted; the relay's
// posted receipt is added when it arrives. A crash after the relay
// committed the letter thus still leaves a record for its later receipts,
// and a letter the relay could not take waits in the outbox, posted later
// in sequence order (outbox.go). If posting fails, the record keeps the
// error in post_error.
//
// CollectReceipts moves the receipt cursor past every receipt it fetched.
// A receipt for a letter with no sent/ID.json on this device (sent by
// another device of the party) or one that fails verification is not
// recorded with a letter but appended to receipts-refused.json, a JSON
// list of {seq, id, kind, reason, receipt}: the relay's receipt sequence
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
// the letter is opened, and kept in letter.json; a sent letter's kind is
// set by the code that sent it and kept in sent/ID.json. Receive sets New
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
// awaiting.json, unacknowledged.json and pending.json (idlist.go) are
// each {"ids": [...]}, changed under the folder lock, so that what brief
// watch asks on every tick reads only the letters listed and never the
// whole of sent/ or archive/; a missing or damaged list is made again by
// one scan. Send lists a letter in awaiting.json before writing its
// record. OverdueLetters drops the letters delivered since, listing each
// in unacknowledged.json first; UnacknowledgedLetters drops the letters
// acknowledged since. Receive lists a letter for a person (ForAPerson) in
// pending.json before it sends the delivered receipt, so a crash between
// the two leaves the letter in the relay's mailbox to be received, and
// listed, again; PendingLetters drops the letters acknowledged since.
//
// An opened letter is staged in tmp/, its files, its files/ folder and the
// stage folder are synced, and only then is the stage renamed into
// archive/ (and archive/ synced) and the delivered receipt sent. The
// ciphertext is kept beside it as letter.age, so that Export can file the
// letter as it travelled and the stock age tool can open it. Load
// removes whatever interrupted operations left in tmp/, except entries a
// running operation holds locked.
package client
