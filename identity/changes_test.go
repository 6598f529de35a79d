package identity

import (
	"slices"
	"testing"

	"brieftraeger/internal/testvec"
)

func TestRosterChanges(t *testing.T) {
	r1 := testRoster(t, "tehran", "root-a", 1, nil)
	r1.Devices = append(r1.Devices, Device{Name: "terminal-2", Key: testvec.Pub("t2"), Recipient: newRecipient(t)})
	r2 := testRoster(t, "tehran", "root-b", 2, nil)
	r2.Devices[0].Key = r1.Devices[0].Key
	r2.Devices = append(r2.Devices, Device{Name: "desk", Key: testvec.Pub("desk"), Recipient: newRecipient(t)})
	got := RosterChanges(r1, r2)
	want := []string{"replaced the keys of device laptop", "added device desk", "removed device terminal-2", "rotated its root key"}
	if !slices.Equal(got, want) {
		t.Fatalf("changes %q, want %q", got, want)
	}
	// A new epoch alone is routine.
	r3 := *r1
	r3.Epochs = append(r3.Epochs, Epoch{Number: 9, Recipient: newRecipient(t), NotAfter: testNotAfter})
	if got := RosterChanges(r1, &r3); len(got) != 0 {
		t.Fatalf("a new epoch reported as %q", got)
	}
}
