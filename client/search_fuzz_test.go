package client

import (
	"strings"
	"testing"
)

// FuzzMatchQuery checks that whatever a person types into a search, the
// query matchQuery makes of it is one FTS5 accepts (no text is taken for
// the query language), and that it finds a letter holding those words.
func FuzzMatchQuery(f *testing.F) {
	for _, s := range []string{"wheat", "wheat harvest", `"quoted"`, "a OR b", "NEAR(a b)", "col:value", "-x", "*", "^a", "(", `""`, "AND", "ü ß 麦", "a\x00b", "\t\n "} {
		f.Add(s)
	}
	p := recordsParty(f, f.TempDir())
	f.Fuzz(func(t *testing.T, text string) {
		q := matchQuery(text)
		if q == "" {
			return
		}
		var n int
		if err := p.db.QueryRow(`SELECT count(*) FROM search WHERE search MATCH ?`, q).Scan(&n); err != nil {
			t.Fatalf("search %q as %q: %v", text, q, err)
		}
		// Indexed as a subject, the text is found by its own words.
		tx, err := p.db.Begin()
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		if err := indexLetter(tx, 1, strings.ToValidUTF8(text, " "), ""); err != nil {
			t.Fatal(err)
		}
		if err := tx.QueryRow(`SELECT count(*) FROM search WHERE search MATCH ?`, matchQuery(strings.ToValidUTF8(text, " "))).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 && strings.IndexFunc(text, isWordRune) >= 0 {
			t.Fatalf("a subject %q is not found by a search for itself (%q)", text, matchQuery(text))
		}
	})
}
