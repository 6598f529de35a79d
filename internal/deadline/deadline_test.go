package deadline

import (
	"testing"
	"time"

	"brieftraeger/envelope"
)

func TestParse(t *testing.T) {
	d, err := Parse("FLASH=5m, ROUTINE=2h")
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[envelope.Precedence]time.Duration{
		envelope.Flash: 5 * time.Minute, envelope.Immediate: 30 * time.Minute,
		envelope.Priority: 3 * time.Hour, envelope.Routine: 2 * time.Hour,
	} {
		if got := d.Of(p); got != want {
			t.Errorf("%s: %v, want %v", p, got, want)
		}
	}
	if d, err := Parse(""); err != nil || d.Of(envelope.Flash) != 10*time.Minute || Deadlines(nil).Of(envelope.Routine) != 6*time.Hour {
		t.Errorf("defaults: %v %v", d, err)
	}
	for _, bad := range []string{"FLASH", "URGENT=5m", "FLASH=-1m", "FLASH=0s", "FLASH=soon", ","} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}

func TestParseAck(t *testing.T) {
	d, err := ParseAck("FLASH=5m")
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[envelope.Precedence]time.Duration{
		envelope.Flash: 5 * time.Minute, envelope.Immediate: time.Hour,
		envelope.Priority: 6 * time.Hour, envelope.Routine: 24 * time.Hour,
	} {
		if got := d.Of(p); got != want {
			t.Errorf("%s: %v, want %v", p, got, want)
		}
	}
	if _, err := ParseAck("FLASH=soon"); err == nil {
		t.Error("ParseAck accepted a bad duration")
	}
}
