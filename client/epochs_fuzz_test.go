package client

import (
	"bytes"
	"testing"
	"time"

	"brieftraeger/identity"
)

// FuzzCheckEpochBundle feeds checkEpochBundle any bytes as a bundle
// fetched from the relay: it never panics, and whatever it accepts is the
// key the roster names.
func FuzzCheckEpochBundle(f *testing.F) {
	ks, err := identity.NewKeystore("washington", "laptop", false)
	if err != nil {
		f.Fatal(err)
	}
	key, _ := identity.NewEpochKey()
	other, _ := identity.NewEpochKey()
	e, err := identity.NewEpoch(2, key.Recipient().String(), time.Unix(1<<32, 0))
	if err != nil {
		f.Fatal(err)
	}
	good, _ := identity.SealEpoch(key, []identity.Device{ks.DeviceEntry()})
	swapped, _ := identity.SealEpoch(other, []identity.Device{ks.DeviceEntry()})
	for _, seed := range [][]byte{good, swapped, good[:len(good)/2], bytes.Replace(good, []byte("\n"), []byte("\r\n"), 1), []byte("age-encryption.org/v1\n"), nil} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, bundle []byte) {
		id, err := checkEpochBundle(bundle, ks.Age, &e)
		if err == nil && id.Recipient().String() != e.Recipient {
			t.Fatal("accepted a bundle holding another key than the roster names")
		}
	})
}
