package identity

import (
	"bytes"
	"fmt"
)

// RosterChanges describes, in words for the people of the other side, what
// changed from one version of a party's roster to the next that bears on
// whom they trust: devices added, removed or given new keys, and a new
// root key. A new epoch key is routine and not listed.
func RosterChanges(prev, next *Roster) []string {
	var out []string
	for _, d := range next.Devices {
		old := prev.Device(d.Name)
		switch {
		case old == nil:
			out = append(out, fmt.Sprintf("added device %s", d.Name))
		case !bytes.Equal(old.Key, d.Key) || old.Recipient != d.Recipient:
			out = append(out, fmt.Sprintf("replaced the keys of device %s", d.Name))
		}
	}
	for _, d := range prev.Devices {
		if next.Device(d.Name) == nil {
			out = append(out, fmt.Sprintf("removed device %s", d.Name))
		}
	}
	if !bytes.Equal(prev.Root, next.Root) {
		out = append(out, "rotated its root key")
	}
	return out
}
