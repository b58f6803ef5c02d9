package main

// Hash tiles and entry bundles (CONTRACT §3 "static tiles"; C2SP tlog-tiles),
// read through tlog.TileHashReader, which authenticates every tile it reads
// against the signed root.

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/tlog"
)

const (
	fullTileCache = "public, max-age=31536000, immutable"
	tileType      = "application/octet-stream"
)

// c2spPath maps Go's sumdb tile path tile/H/L/N[.p/W] to the C2SP one,
// tile/L/N[.p/W]: C2SP fixes the height at 8 and leaves it out, and calls
// Go's level -1 ("data") entries.
func c2spPath(t tlog.Tile) string {
	p := strings.TrimPrefix(t.Path(), fmt.Sprintf("tile/%d/", t.H))
	if rest := strings.TrimPrefix(p, "data/"); rest != p {
		return "tile/entries/" + rest
	}
	return "tile/" + p
}

// tileReader serves tlog.TileHashReader from the log, checking each tile's
// headers on the way.
type tileReader struct{ c *checker }

func (tileReader) Height() int { return 8 }

func (r tileReader) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		path := c2spPath(t)
		resp := get(r.c.url + "/" + path)
		r.c.tileFetches++
		if resp.status != 200 {
			return nil, fmt.Errorf("GET /%s: want 200, got %d %s", path, resp.status, short(resp.body))
		}
		checkTileHeaders(path, resp, t.W == 256)
		out[i] = resp.body
	}
	return out, nil
}

func (tileReader) SaveTiles([]tlog.Tile, [][]byte) {}

func (c *checker) hashReader(cp checkpoint) tlog.HashReader {
	return tlog.TileHashReader(tlog.Tree{N: cp.size, Hash: cp.root}, tileReader{c})
}

// checkTileHeaders: full tiles are immutable for a year, partial ones cached
// for at most a minute.
func checkTileHeaders(path string, r response, full bool) {
	equal("tile Content-Type", r.header.Get("Content-Type"), tileType, path)
	cc := r.header.Get("Cache-Control")
	if full {
		equal("full tile Cache-Control", cc, fullTileCache, path)
		return
	}
	maxAge := -1
	for _, field := range strings.Split(cc, ",") {
		if v := strings.TrimPrefix(strings.TrimSpace(field), "max-age="); v != strings.TrimSpace(field) {
			maxAge, _ = strconv.Atoi(v)
		}
	}
	check("partial tile Cache-Control", maxAge >= 0 && maxAge <= 60 && !strings.Contains(cc, "immutable"),
		"%s: want max-age of at most 60 and not immutable, got %q", path, cc)
}

// checkTreeHash recomputes the root with tlog.TreeHash from tiles alone.
func (c *checker) checkTreeHash(cp checkpoint, hr tlog.HashReader) {
	th, err := tlog.TreeHash(cp.size, hr)
	if noError("tlog.TreeHash from tiles", err, fmt.Sprintf("size %d", cp.size)) {
		equal("tlog.TreeHash from tiles = checkpoint root", th, cp.root, fmt.Sprintf("size %d", cp.size))
	}
}

// checkTilesAndBundles compares each level-0 tile with the leaf hashes of the
// entries the checker sent and with tlog.ReadTileData, and parses each entry
// bundle (uint16 big-endian length || bytes). Without full, only the last
// three tiles are read.
func (c *checker) checkTilesAndBundles(cp checkpoint, hr tlog.HashReader, full bool) {
	tiles := (cp.size + 255) / 256
	first := int64(0)
	if !full && tiles > 3 {
		first = tiles - 3
	}
	for n := first; n < tiles; n++ {
		w := cp.size - 256*n
		if w > 256 {
			w = 256
		}
		t := tlog.Tile{H: 8, L: 0, N: n, W: int(w)}
		path := c2spPath(t)
		r := get(c.url + "/" + path)
		if check("GET level-0 tile", r.status == 200 && int64(len(r.body)) == 32*w,
			"%s: want 200 with %d bytes, got %d with %d bytes", path, 32*w, r.status, len(r.body)) {
			checkTileHeaders(path, r, w == 256)
			var want []byte
			for _, h := range c.leafHashes[256*n : 256*n+w] {
				want = append(want, h[:]...)
			}
			check("level-0 tile = leaf hashes of the entries sent", bytes.Equal(r.body, want), "%s: the tile's hashes differ from SHA-256(0x00 || entry)", path)
			data, err := tlog.ReadTileData(t, hr)
			if noError("tlog.ReadTileData", err, path) {
				check("tlog.ReadTileData = served tile", bytes.Equal(data, r.body), "%s: want the %d bytes tlog rebuilt, got different bytes", path, len(data))
			}
		}
		c.checkBundle(n, w)
	}
}

func (c *checker) checkBundle(n, w int64) {
	path := c2spPath(tlog.Tile{H: 8, L: -1, N: n, W: int(w)})
	r := get(c.url + "/" + path)
	if !equal("GET entry bundle", r.status, 200, path) {
		return
	}
	checkTileHeaders(path, r, w == 256)
	if r.gzipped {
		c.gzippedBundles++
	}
	data := r.body
	k := int64(0)
	for ; len(data) > 0; k++ {
		if len(data) < 2 || len(data) < 2+int(binary.BigEndian.Uint16(data)) || k >= w {
			failf("entry bundle parses", "%s: want %d length-prefixed entries, got bytes left over after %d", path, w, k)
			return
		}
		l := int(binary.BigEndian.Uint16(data))
		entry := data[2 : 2+l]
		i := 256*n + k
		check("bundle entry = entry sent", bytes.Equal(entry, c.entries[i]) && tlog.RecordHash(entry) == c.leafHashes[i],
			"%s: entry %d differs from the one sent (%d bytes, got %d)", path, i, len(c.entries[i]), l)
		data = data[2+l:]
	}
	equal("entry bundle count", k, w, path)
}

// notServed: tiles beyond the tree and non-canonical paths are 404 or 400.
func (c *checker) notServed(name, path string) {
	s := get(c.url + path).status
	check(name, s == 404 || s == 400, "%s: want 404 or 400, got %d", path, s)
}

// checkEmptyTiles: a tree of size 0 has no tiles and no bundles.
func (c *checker) checkEmptyTiles() {
	c.notServed("size 0: no tile", "/tile/0/000.p/1")
	c.notServed("size 0: no bundle", "/tile/entries/000.p/1")
}

// checkEdgePaths runs at size 1000 (3 full tiles and tile/0/003.p/232):
// tiles beyond the tree and non-canonical paths are 404 or 400, and a tile
// above level 0 that exists is served.
func (c *checker) checkEdgePaths() {
	for _, p := range []string{
		"/tile/0/003", "/tile/0/003.p/233", "/tile/0/004.p/1", "/tile/1/000", "/tile/1/000.p/4",
		"/tile/entries/003", "/tile/entries/004.p/1",
		"/tile/0/000.p/256", "/tile/0/000.p/0", "/tile/0/0", "/tile/0/00", "/tile/00/000", "/tile/0/x000/001",
		"/tile/64/000", "/tile/8/0/000", "/tile/0/000.p/01", "/tile/0/000.p/", "/tile/0/%2e%2e/000",
		"/tile/0/000/", "/tile/0/000.p/1/",
	} {
		c.notServed("beyond the tree or non-canonical tile path", p)
	}
	equal("GET /tile/1/000.p/3 at size 1000", get(c.url+"/tile/1/000.p/3").status, 200, "level 1 partial tile")
}

// checkPartialTilesKept: a partial tile path read when the tree was small is
// still served, with the same bytes, after its tile filled (CONTRACT §3: a
// partial tile is a prefix of the later one).
func (c *checker) checkPartialTilesKept(oldTile []byte) {
	r := get(c.url + "/tile/0/000.p/1")
	if check("tile/0/000.p/1 still served after tile 0 filled", r.status == 200 && bytes.Equal(r.body, oldTile),
		"want 200 with the bytes served at size 1, got %d with %s", r.status, short(r.body)) {
		checkTileHeaders("tile/0/000.p/1", r, false)
	}
	r = get(c.url + "/tile/entries/000.p/5")
	equal("tile/entries/000.p/5 still served", r.status, 200, short(r.body))
}

// checkUpperTiles runs at size 70,000: tiles of levels 1 and 2 exist with the
// widths tlog's math says, and no wider.
func (c *checker) checkUpperTiles() {
	for _, p := range []string{"/tile/0/273.p/112", "/tile/1/000", "/tile/1/001.p/17", "/tile/2/000.p/1"} {
		r := get(c.url + p)
		if equal("tile at size 70000", r.status, 200, p) {
			checkTileHeaders(p, r, !strings.Contains(p, ".p/"))
		}
	}
	c.notServed("tile wider than the tree at size 70000", "/tile/2/000.p/2")
}

// checkLargeIndexTiles runs at size 256,001 and 256,257: tile index 1000
// is written x001/000.
func (c *checker) checkLargeIndexTiles(size int64) {
	if size == 256001 {
		for _, p := range []string{"/tile/0/x001/000.p/1", "/tile/entries/x001/000.p/1", "/tile/0/999", "/tile/1/003.p/232"} {
			equal("tile with a large index", get(c.url+p).status, 200, p)
		}
		for _, p := range []string{"/tile/0/1000", "/tile/0/x1/000.p/1"} {
			c.notServed("non-canonical large index", p)
		}
		return
	}
	r := get(c.url + "/tile/0/x001/000")
	if check("tile/0/x001/000 full", r.status == 200 && len(r.body) == 8192, "want 200 with 8192 bytes, got %d with %d", r.status, len(r.body)) {
		checkTileHeaders("tile/0/x001/000", r, true)
	}
}
