package identity

// Domain-separation contexts. Every signature is over context || "\n" ||
// message, and every hash is over context || "\n" || data. The full list,
// with the layouts they cover, is in docs/PROTOCOL.md.
const (
	ContextRoster       = "brieftraeger/v1 roster"
	ContextRosterHash   = "brieftraeger/v1 roster-hash"
	ContextFingerprint  = "brieftraeger/v1 key-fingerprint"
	ContextJoinRequest  = "brieftraeger/v1 join-request"
	ContextSafetyNumber = "brieftraeger/v1 safety-number"

	// Invitations (invite.go): HKDF infos of the keys derived from the
	// code, the lookup hash, the two MACs, the invitation hash and the
	// channel consent signature.
	ContextInviteID       = "brieftraeger/v1 invitation-id"
	ContextInviteLookup   = "brieftraeger/v1 invitation-lookup"
	ContextInviteMAC      = "brieftraeger/v1 invitation-mac-key"
	ContextInvitation     = "brieftraeger/v1 invitation"
	ContextInviteHash     = "brieftraeger/v1 invitation-hash"
	ContextInviteAnswer   = "brieftraeger/v1 invitation-answer"
	ContextChannelConsent = "brieftraeger/v1 channel-consent"
)

// Sign signs context || "\n" || msg with key.
func Sign(key []byte, context string, msg []byte) []byte {
	return signEd25519(key, contextMessage(context, msg))
}

// Verify checks an Ed25519 signature made by [Sign] with the same context.
func Verify(pub []byte, context string, msg, sig []byte) bool {
	return verifyEd25519(pub, contextMessage(context, msg), sig)
}

func contextMessage(context string, msg []byte) []byte {
	m := make([]byte, 0, len(context)+1+len(msg))
	m = append(m, context...)
	m = append(m, '\n')
	return append(m, msg...)
}
