package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestSeen notes letters along two directions: a later time replaces an
// earlier one, an earlier one changes nothing, a name that is not a party
// name is refused, and the times outlive the store's restart.
func TestSeen(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, Config{Dir: dir})
	ctx := context.Background()
	ab, ba := Direction{"alice", "bob"}, Direction{"bob", "alice"}
	t0 := time.Unix(1_700_000_000, 0)
	for _, n := range []struct {
		d  Direction
		at time.Time
	}{{ab, t0}, {ab, t0.Add(time.Minute)}, {ab, t0.Add(time.Second)}, {ba, t0}} {
		if err := s.NoteSeen(ctx, n.d, n.at); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []Direction{{"alice", "b.c"}, {"", "bob"}, {"Alice", "bob"}} {
		if err := s.NoteSeen(ctx, d, t0); !errors.Is(err, ErrInvalid) {
			t.Errorf("NoteSeen(%+v): %v", d, err)
		}
	}
	want := map[Direction]time.Time{ab: t0.Add(time.Minute), ba: t0}
	check := func(s *Store, when string) {
		t.Helper()
		got, err := s.Seen(ctx)
		if err != nil || len(got) != len(want) || !got[ab].Equal(want[ab]) || !got[ba].Equal(want[ba]) {
			t.Fatalf("%s: %v %v, want %v", when, err, got, want)
		}
	}
	check(s, "seen")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	check(openStore(t, Config{Dir: dir}), "after reopening")
}
