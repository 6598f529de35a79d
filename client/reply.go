package client

import (
	"encoding/hex"
	"fmt"
	"strings"

	"brieftraeger/envelope"
	"brieftraeger/letter"
)

// Reply returns the letter that answers letter id (received, else sent by
// this device), without body or attachments: to the other party, in the
// same thread (the thread the letter names, or the letter itself if it
// names none), ReplyTo the letter, with its precedence and its subject
// after "Re: " (not doubled). A heartbeat or a test letter is not
// answered.
func (p *Party) Reply(id string) (Outgoing, error) {
	rec, s, err := p.findLetter(id)
	if err != nil {
		return Outgoing{}, err
	}
	var to, subject, prec, thread string
	var kind Kind
	if rec != nil {
		to, subject, prec, thread, kind = rec.From, rec.Subject, rec.Precedence, rec.Thread, p.KindOf(rec)
	} else {
		to, subject, prec, thread, kind = s.To, s.Subject, s.Precedence, s.Thread, s.Kind
	}
	if kind.System() {
		return Outgoing{}, fmt.Errorf("letter %s is a %s, which a device sent on its own: there is no one to answer", id, strings.ReplaceAll(string(kind), "_", " "))
	}
	o := Outgoing{To: to, Subject: replySubject(subject)}
	if o.Precedence, err = envelope.ParsePrecedence(prec); err != nil {
		return Outgoing{}, fmt.Errorf("letter %s: %w", id, err)
	}
	if o.ReplyTo, err = hex.DecodeString(id); err != nil {
		return Outgoing{}, err
	}
	if o.Thread, err = hex.DecodeString(threadOf(thread, id)); err != nil || len(o.Thread) != len(o.ReplyTo) {
		return Outgoing{}, fmt.Errorf("letter %s names a malformed thread %q", id, thread)
	}
	return o, nil
}

// replySubject is "Re: " and subject, unless subject starts so already or
// would grow too long for a letter.
func replySubject(subject string) string {
	if strings.HasPrefix(strings.ToLower(subject), "re:") || len(subject)+4 > letter.MaxSubjectLen {
		return subject
	}
	return "Re: " + subject
}
