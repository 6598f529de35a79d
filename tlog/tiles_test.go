package tlog

import (
	"encoding/binary"
	"testing"

	sumdb "golang.org/x/mod/sumdb/tlog"
)

// memTiles serves a Tree's tiles to x/mod's sumdb/tlog through their
// C2SP paths, as the relay does over HTTP.
type memTiles struct {
	t    *testing.T
	tree *Tree
}

func (m memTiles) Height() int { return 8 }

func (m memTiles) ReadTiles(tiles []sumdb.Tile) ([][]byte, error) {
	var out [][]byte
	for _, tl := range tiles {
		entries, level, n, width, err := ParseTilePath(TilePath(false, tl.L, uint64(tl.N), tl.W))
		if err != nil || entries || level != tl.L || n != uint64(tl.N) || width != tl.W {
			m.t.Fatalf("path round trip of %+v: %v", tl, err)
		}
		data, err := m.tree.HashTile(level, n, width)
		if err != nil {
			return nil, err
		}
		out = append(out, data)
	}
	return out, nil
}

func (m memTiles) SaveTiles([]sumdb.Tile, [][]byte) {}

// TestTilesMatchSumDB builds a tree of 70,000 leaves (the C2SP example: 273
// full and one partial level-0 tiles, one full and one partial level-1
// tile, one partial level-2 tile) and has x/mod's sumdb/tlog recompute its
// root from the tiles and prove leaves against it.
func TestTilesMatchSumDB(t *testing.T) {
	const size = 70_000
	var tree Tree
	for i := range uint64(size) {
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], i)
		tree.Append(LeafData(KindEnvelope, b[:]))
	}
	root, _ := tree.Root(size)
	for _, s := range []uint64{1, 255, 256, 257, 65536, size} {
		r, _ := tree.Root(s)
		hr := sumdb.TileHashReader(sumdb.Tree{N: int64(s), Hash: sumdb.Hash(r)}, memTiles{t, &tree})
		got, err := sumdb.TreeHash(int64(s), hr)
		if err != nil || got != sumdb.Hash(r) {
			t.Fatalf("size %d: sumdb computed %x, want %x: %v", s, got, r, err)
		}
	}
	hr := sumdb.TileHashReader(sumdb.Tree{N: size, Hash: sumdb.Hash(root)}, memTiles{t, &tree})
	for _, i := range []int64{0, 255, 256, 65535, 65536, size - 1} {
		p, err := sumdb.ProveRecord(size, i, hr)
		if err != nil {
			t.Fatal(err)
		}
		leaf, _ := tree.LeafHash(uint64(i))
		if err := sumdb.CheckRecord(p, size, sumdb.Hash(root), i, sumdb.Hash(leaf)); err != nil {
			t.Fatalf("leaf %d: %v", i, err)
		}
	}
	if _, err := tree.HashTile(2, 0, 2); err == nil {
		t.Fatal("served a tile wider than the tree")
	}
}

func TestTilePaths(t *testing.T) {
	for _, c := range []struct {
		entries bool
		level   int
		n       uint64
		width   int
		path    string
	}{
		{false, 0, 0, 256, "tile/0/000"},
		{false, 1, 1234067, 256, "tile/1/x001/x234/067"},
		{false, 2, 5, 17, "tile/2/005.p/17"},
		{true, 0, 1234, 1, "tile/entries/x001/234.p/1"},
	} {
		if got := TilePath(c.entries, c.level, c.n, c.width); got != c.path {
			t.Errorf("TilePath = %q, want %q", got, c.path)
		}
		e, l, n, w, err := ParseTilePath(c.path)
		if err != nil || e != c.entries || l != c.level || n != c.n || w != c.width {
			t.Errorf("ParseTilePath(%q) = %v %d %d %d %v", c.path, e, l, n, w, err)
		}
	}
	for _, bad := range []string{"tile/0/1", "tile/00/000", "tile/64/000", "tile/0/001/002", "tile/0/x001", "tile/0/000.p/0",
		"tile/0/000.p/256", "tile/0/000.p/07", "tile/entries", "tiles/0/000", "tile/0/x1000/000", "tile/-1/000"} {
		if _, _, _, _, err := ParseTilePath(bad); err == nil {
			t.Errorf("ParseTilePath(%q) accepted", bad)
		}
	}
}

// FuzzParseTilePath: parsing never panics, and what parses prints back
// to the same path.
func FuzzParseTilePath(f *testing.F) {
	for _, s := range []string{"tile/0/000", "tile/1/x001/x234/067", "tile/entries/x001/234.p/1", "tile/2/005.p/17"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		e, l, n, w, err := ParseTilePath(path)
		if err == nil && TilePath(e, l, n, w) != path {
			t.Fatalf("%q parsed to %v %d %d %d, which prints as %q", path, e, l, n, w, TilePath(e, l, n, w))
		}
	})
}
