package tlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// TileWidth is the number of hashes (or entries) in a full tile of the
// C2SP tlog-tiles layout; tiles have height 8.
const TileWidth = 256

// TilePath returns the C2SP tlog-tiles path of a tile, relative to the
// log's prefix: "tile/<L>/<N>[.p/<W>]" for a hash tile at level L, or
// "tile/entries/<N>[.p/<W>]" for an entry bundle. N is written in
// zero-padded groups of three digits, all but the last prefixed with 'x'.
// A width of TileWidth is a full tile.
func TilePath(entries bool, level int, n uint64, width int) string {
	var b strings.Builder
	b.WriteString("tile/")
	if entries {
		b.WriteString("entries/")
	} else {
		b.WriteString(strconv.Itoa(level) + "/")
	}
	groups := []string{fmt.Sprintf("%03d", n%1000)}
	for n /= 1000; n > 0; n /= 1000 {
		groups = append([]string{fmt.Sprintf("x%03d", n%1000)}, groups...)
	}
	b.WriteString(strings.Join(groups, "/"))
	if width < TileWidth {
		b.WriteString(".p/" + strconv.Itoa(width))
	}
	return b.String()
}

// ParseTilePath parses a path made by TilePath.
func ParseTilePath(path string) (entries bool, level int, n uint64, width int, err error) {
	bad := fmt.Errorf("malformed tile path %q", path)
	rest, ok := strings.CutPrefix(path, "tile/")
	if !ok {
		return false, 0, 0, 0, bad
	}
	elems := strings.Split(rest, "/")
	if len(elems) < 2 {
		return false, 0, 0, 0, bad
	}
	if elems[0] == "entries" {
		entries = true
	} else if level, err = strconv.Atoi(elems[0]); err != nil || level < 0 || level > 63 || strconv.Itoa(level) != elems[0] {
		return false, 0, 0, 0, bad
	}
	elems = elems[1:]
	width = TileWidth
	if k := len(elems); k >= 2 && strings.HasSuffix(elems[k-2], ".p") {
		w, err := strconv.Atoi(elems[k-1])
		if err != nil || w < 1 || w >= TileWidth || strconv.Itoa(w) != elems[k-1] {
			return false, 0, 0, 0, bad
		}
		width = w
		elems = append(elems[:k-2], strings.TrimSuffix(elems[k-2], ".p"))
	}
	for i, e := range elems {
		digits, ok := strings.CutPrefix(e, "x")
		if ok != (i < len(elems)-1) || len(digits) != 3 || i == 0 && len(elems) > 1 && digits == "000" {
			return false, 0, 0, 0, bad // not canonical: only one way to write each index
		}
		d, err := strconv.ParseUint(digits, 10, 64)
		if err != nil || n > (1<<63)/1000 {
			return false, 0, 0, 0, bad
		}
		n = n*1000 + d
	}
	if n > math.MaxUint64/TileWidth/TileWidth {
		return false, 0, 0, 0, bad // the tile's first index would not fit
	}
	return entries, level, n, width, nil
}

// errNoTile is returned for a tile the tree does not hold (yet).
var errNoTile = errors.New("tlog: no such tile")

// HashTile returns a hash tile: the concatenated hashes at tree height 8L
// with indices n*256 … n*256+width-1, each the root of a complete subtree
// of 256^L leaves. A partial tile (width < 256) may be of any width the
// tree already holds.
func (t *Tree) HashTile(level int, n uint64, width int) ([]byte, error) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	h := 8 * level
	first := n * TileWidth
	if h >= len(t.levels) || first+uint64(width) > uint64(len(t.levels[h])) {
		return nil, errNoTile
	}
	out := make([]byte, 0, 32*width)
	for _, hash := range t.levels[h][first : first+uint64(width)] {
		out = append(out, hash[:]...)
	}
	return out, nil
}

// EntryBundle encodes leaf data as a C2SP tlog-tiles entry bundle: each
// entry as a big-endian uint16 length, then the entry.
func EntryBundle(leaves [][]byte) []byte {
	var out []byte
	for _, l := range leaves {
		out = binary.BigEndian.AppendUint16(out, uint16(len(l)))
		out = append(out, l...)
	}
	return out
}
