package recent

import "testing"

// TestGenerations checks that a Map keeps the newest generation whole,
// and the one before it until a new one fills.
func TestGenerations(t *testing.T) {
	m := Map[int, int]{Size: 4}
	if _, ok := m.Get(0); ok {
		t.Fatal("an empty map has 0")
	}
	for i := range 5 {
		m.Put(i, i*10)
	}
	if v, ok := m.Get(0); !ok || v != 0 {
		t.Fatalf("Get(0) = %d, %t; want the older generation kept", v, ok)
	}
	if v, ok := m.Get(4); !ok || v != 40 {
		t.Fatalf("Get(4) = %d, %t", v, ok)
	}
	for i := 5; i < 9; i++ {
		m.Put(i, i*10)
	}
	if _, ok := m.Get(0); ok {
		t.Fatal("Get(0) after two generations: still there")
	}
	for _, k := range []int{4, 8} {
		if v, ok := m.Get(k); !ok || v != k*10 {
			t.Fatalf("Get(%d) = %d, %t", k, v, ok)
		}
	}
	m.Put(8, 1)
	if v, _ := m.Get(8); v != 1 {
		t.Fatalf("Get(8) after a second Put = %d", v)
	}
}
