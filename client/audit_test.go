package client_test

import (
	"context"
	"testing"
	"time"

	"brieftraeger/client"
)

func TestAudit(t *testing.T) {
	_, wash, teh := pair(t)
	ctx := context.Background()
	sentAndLogged(t, wash, teh)
	var rep *client.AuditReport
	var err error
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if rep, err = wash.Audit(ctx, nil); err != nil {
			t.Fatal(err)
		}
		if rep.OK || time.Now().After(deadline) {
			break
		}
	}
	// washington holds its letter's envelope, posted and delivered
	// receipts, and tehran's roster; the log has both rosters too.
	if !rep.OK || !rep.TreeMatches || rep.Records != 4 || rep.Size < 5 {
		t.Fatalf("audit: %+v", rep)
	}
	if rep, err := teh.Audit(ctx, nil); err != nil || !rep.TreeMatches {
		t.Fatalf("tehran's audit: %v %+v", err, rep)
	}

	// A record of a letter the relay acknowledged that its log does not
	// hold is reported missing.
	ids, _ := wash.SentIDs()
	s, err := wash.Sent(ids[0])
	if err != nil {
		t.Fatal(err)
	}
	s.ID = "00000000000000000000000000000001"
	s.Envelope = append(s.Envelope[:len(s.Envelope)-1], s.Envelope[len(s.Envelope)-1]^1)
	if err := client.PutSentRecord(wash, s); err != nil {
		t.Fatal(err)
	}
	rep, err = wash.Audit(ctx, nil)
	if err != nil || rep.OK || len(rep.Missing) != 1 || !rep.TreeMatches {
		t.Fatalf("audit with an unlogged record: %v %+v", err, rep)
	}
}
