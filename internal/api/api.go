// Package api holds the shapes that cross the wire between relay and
// clients over HTTPS: paths, header names, JSON bodies and error codes. The
// byte layouts inside (envelopes, receipts, rosters) belong to packages
// envelope and identity; the HTTP API is documented in docs/PROTOCOL.md.
package api

import "time"

// Descriptor is the public description of a relay that the operator hands
// to each party out of band: its name, the SHA-256 of its TLS certificate
// (which clients pin) and its receipt-signing key. It is relay.json in the
// relay's data folder.
type Descriptor struct {
	Name       string   `json:"name"`
	URL        string   `json:"url,omitempty"`
	URLs       []string `json:"urls,omitempty"` // every node of a relay cluster, URL among them; clients fail over in turn
	TLSSHA256  string   `json:"tls_sha256"`
	ReceiptKey string   `json:"receipt_key"`
	LogOrigin  string   `json:"log_origin"` // origin line of the log's checkpoints
	LogKey     string   `json:"log_key"`    // note verifier key that signs them
}

// Request headers with which a device names itself; the relay checks the
// TLS client key against that device's roster entry.
const (
	HeaderParty  = "Brief-Party"
	HeaderDevice = "Brief-Device"
)

// HeaderRetry, set to "1", marks a request that a client sends again after
// it failed or went unanswered, to the same relay node or another: the
// relay then looks a posted envelope's id up before it reads the body.
const HeaderRetry = "Brief-Retry"

// Paths of the relay API.
const (
	PathInfo      = "/v1/info"
	PathEnvelopes = "/v1/envelopes"      // POST an envelope; GET /v1/envelopes/{id}
	PathMailbox   = "/v1/mailbox"        // GET pending envelopes for the caller's party
	PathEvents    = "/v1/events"         // GET server-sent events for the caller's party
	PathReceipts  = "/v1/receipts"       // POST a receipt; GET ?after=N receipts for the caller's letters
	PathRosters   = "/v1/rosters/"       // GET /v1/rosters/{party}; PUT (a device of that party): the next roster version
	PathParties   = "/v1/admin/parties"  // PUT /v1/admin/parties/{party} (admin): admit or update a roster
	PathChannels  = "/v1/admin/channels" // POST (admin): open a channel; GET: list
	PathOverdue   = "/v1/admin/overdue"  // GET (admin): letters waiting past their delivery deadline

	// PathInvitations: POST (a device of the inviting party) an
	// invitation; GET /v1/invitations/{id} (a device of either party);
	// POST /v1/invitations/{id}/answer (the invited party);
	// POST /v1/invitations/{id}/consent (the inviting party).
	PathInvitations = "/v1/invitations"
	// PathAdminInvitations: GET (admin) the invitations;
	// POST /v1/admin/invitations/{id}/approve.
	PathAdminInvitations = "/v1/admin/invitations"
)

// PathRosterChain follows PathRosters and a party name:
// GET /v1/rosters/{party}/chain answers every admitted version of the
// party's roster, oldest first, as a JSON list of base64 strings, so that a
// client can verify the chain from the root key it pinned.
const PathRosterChain = "/chain"

// PathEpochs follows PathRosters and a party name:
// /v1/rosters/{party}/epochs/{n} is the bundle of the party's epoch n (its
// secret sealed to the party's devices, an age file), for devices of that
// party only: PUT before the roster that names the epoch, GET, DELETE once
// the roster no longer names it.
const PathEpochs = "/epochs/"

// MaxEpochBundle bounds an epoch bundle: an age file with one hybrid
// stanza (about 1,560 bytes) per device, room for a roster's 256.
const MaxEpochBundle = 512 << 10

// MailboxEntry is one pending envelope in GET /v1/mailbox, and the data of
// an "envelope" server-sent event.
type MailboxEntry struct {
	ID         string `json:"id"`
	From       string `json:"from"`
	Precedence string `json:"precedence"`
	Size       uint64 `json:"size"`
	Seq        uint64 `json:"seq"`
	PostedAt   int64  `json:"posted_at_ms"`
	// Envelope, in an event only, is the envelope stream as GET
	// /v1/envelopes/{id} answers it (uint16 length, signed header,
	// ciphertext), for envelopes of at most EventEnvelopeLimit bytes of
	// ciphertext, so that the device needs no request to fetch it. The
	// device checks it exactly as a fetched one. Absent otherwise, and
	// whenever the relay could not read the envelope at once.
	Envelope []byte `json:"envelope,omitempty"`
}

// EventEnvelopeLimit is the largest ciphertext, in bytes, that an event
// carries (MailboxEntry.Envelope). With its header, base64 and JSON, such
// an event stays well inside the 64 KiB line a client reads.
const EventEnvelopeLimit = 16 << 10

// ReceiptEntry is one receipt in GET /v1/receipts.
type ReceiptEntry struct {
	Seq     uint64 `json:"seq"`
	Receipt []byte `json:"receipt"` // signed receipt bytes (base64 in JSON)
}

// Channel is one open channel, in POST and GET /v1/admin/channels. GET
// adds what the relay saw of it since it started: the newest envelope each
// way (letters and heartbeats alike; the relay cannot tell them apart) and
// the light those make at the interval asked for (?interval=, default 60s).
type Channel struct {
	A      string     `json:"a"`
	B      string     `json:"b"`
	LastAB *time.Time `json:"last_a_to_b,omitempty"`
	LastBA *time.Time `json:"last_b_to_a,omitempty"`
	Light  string     `json:"light,omitempty"`
	// OverdueAB and OverdueBA count the letters each way waiting in their
	// recipient's mailbox past their delivery deadline. OverdueUnknown
	// says that they could not be counted (they are then 0).
	OverdueAB      int  `json:"overdue_a_to_b"`
	OverdueBA      int  `json:"overdue_b_to_a"`
	OverdueUnknown bool `json:"overdue_unknown,omitempty"`
}

// Overdue counts the letters of one precedence waiting in one direction
// in their recipient's mailbox past their delivery deadline, counted from
// when the relay stored them. Heartbeats and test letters (IMMEDIATE)
// count like any letter: the relay cannot tell them apart.
type Overdue struct {
	From           string    `json:"from"`
	To             string    `json:"to"`
	Precedence     string    `json:"precedence"`
	Count          int       `json:"count"`
	OldestPostedAt time.Time `json:"oldest_posted_at"`
	OldestDue      time.Time `json:"oldest_due"`
}

// Error is the JSON body of every error answer.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"error"`
}

// Error codes, stable for scripts.
const (
	CodeMalformed    = "malformed"
	CodeTooLarge     = "too_large"
	CodeUnknownParty = "unknown_party"
	CodeNoChannel    = "no_channel"
	CodeNotOnRoster  = "not_on_roster"
	CodeBadSignature = "bad_signature"
	CodeReplay       = "replay"
	CodeEpoch        = "bad_epoch"
	CodeNotFound     = "not_found"
	CodeForbidden    = "forbidden"
	CodeUnavailable  = "unavailable"
	CodeConflict     = "conflict"
	CodeStorageFull  = "storage_full" // 507: the relay is out of space for new letters
	CodeExpired      = "expired"      // 410: the invitation expired, or was burnt by wrong codes
	CodeUsed         = "used"         // 409: the invitation was answered already
	CodeAwaiting     = "awaiting_approval"
)

// Paths of the log, for devices.
const (
	PathLogCheckpoint  = "/v1/log/checkpoint"  // GET: the latest signed checkpoint (a C2SP signed note)
	PathLogProof       = "/v1/log/proof"       // GET ?leaf=HEX: LogProof of that leaf against the latest checkpoint
	PathLogConsistency = "/v1/log/consistency" // GET ?from=M&to=N: LogProof with the consistency proof
	PathLogLeaves      = "/v1/log/leaves"      // GET ?start=S&count=C: LogLeaves, at most MaxLogLeaves
	PathLogTiles       = "/v1/log/tile/"       // GET: C2SP tlog-tiles hash tiles and entry bundles (prefix /v1/log)
)

// MaxLogLeaves bounds the leaves in one answer of PathLogLeaves.
const MaxLogLeaves = 4096

// LogLeaves is the answer of PathLogLeaves: the leaf data of leaves Start,
// Start+1, ... in order.
type LogLeaves struct {
	Start  uint64   `json:"start"`
	Leaves [][]byte `json:"leaves"`
}

// LogProof is the answer of the log's proof endpoints. Proof is the
// concatenated 32-byte hashes (tlog.MarshalProof).
type LogProof struct {
	Checkpoint []byte `json:"checkpoint,omitempty"` // the signed note the proof is against
	Index      uint64 `json:"index"`
	Proof      []byte `json:"proof"`
}

// MaxInviteMisses is the number of wrong codes from an invited party's
// devices after which the relay burns every invitation waiting for it.
const MaxInviteMisses = 5

// Invitation is an invitation as the relay shows it to a device of one
// of its parties (GET /v1/invitations/{id}): the invitation's bytes and,
// for the inviting party, the answer and the invited party's channel
// consent once they came. State is one of "awaiting-approval", "open",
// "answered", "done", "burnt" and "expired".
type Invitation struct {
	Lookup     string    `json:"lookup"`
	From       string    `json:"from"`
	For        string    `json:"for"`
	State      string    `json:"state"`
	Expires    time.Time `json:"expires"`
	Invitation []byte    `json:"invitation"`
	Answer     []byte    `json:"answer,omitempty"`
	Consent    []byte    `json:"consent,omitempty"`
}

// InvitationAnswer is the body of POST /v1/invitations/{id}/answer: the
// invited party's answer and its signed channel consent.
type InvitationAnswer struct {
	Answer  []byte `json:"answer"`
	Consent []byte `json:"consent"`
}

// AdminInvitation is one invitation in GET /v1/admin/invitations: who
// invited whom, its state, and the wrong codes the invited party tried.
// ID is its lookup, in hex.
type AdminInvitation struct {
	ID      string    `json:"id"`
	From    string    `json:"from"`
	For     string    `json:"for"`
	State   string    `json:"state"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
	Misses  int       `json:"misses"`
}
