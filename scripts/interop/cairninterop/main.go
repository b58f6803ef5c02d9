// Command cairninterop checks Cairn with code written by others: Go's
// checksum-database packages golang.org/x/mod/sumdb/note and sumdb/tlog, and
// the 2016 Certificate Transparency Go library (client, serialization,
// merkletree). It covers the wire contract (spec/CONTRACT.md) §1 (entries
// and hashing), §2 (keys, checkpoints, STH) and §3 (writes and receipts, the
// RFC 6962 §4 read API, tiles and entry bundles), that is C2SP signed-note,
// tlog-checkpoint and tlog-tiles, RFC 6962 §2.1 and §4, and RFC 9162's Ed25519
// scheme 0x0807.
//
// Usage:
//
//	cairninterop -vectors test/vectors
//	cairninterop -url http://127.0.0.1:PORT -vkey ORIGIN+HASH+KEY [-key log.key] [-big] [-concurrent 10s] [-v]
//
// Against a server the log must be empty and open for writes: the checker adds
// its own entries (70,000, or 256,257 with -big, then more while -concurrent
// runs) and compares every answer with what it sent. Exit status: 0 when at
// least one check ran and all passed, 1 when a check failed, 2 when the checker
// could not run.
package main

import (
	"crypto/ed25519"
	"flag"
	"fmt"
	"os"
	"time"

	ct "github.com/google/certificate-transparency/go"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// checker holds what the checker knows about the log: the key it trusts,
// the entries it sent, and every checkpoint it verified.
type checker struct {
	url      string
	verifier note.Verifier
	pubKey   ed25519.PublicKey
	signer   note.Signer // nil without -key

	entries    [][]byte
	leafHashes []tlog.Hash
	history    []checkpoint
	lastSTH    *ct.SignedTreeHead

	tileFetches    int
	gzippedBundles int
}

func main() {
	logURL := flag.String("url", "", "the log's base URL, e.g. http://127.0.0.1:8080 (an empty log, writes open)")
	vkey := flag.String("vkey", "", "the log's verifier key, origin+hash+base64 (needed with -url)")
	keyFile := flag.String("key", "", "the log's private key file: also check that note.Sign reproduces every checkpoint")
	vectors := flag.String("vectors", "", "check the shared test vectors in this folder")
	big := flag.Bool("big", false, "grow the log to 256,257 entries (tile index 1000, x001/ paths)")
	concurrent := flag.Duration("concurrent", 10*time.Second, "verify while a writer adds entries for this long (0: skip)")
	flag.BoolVar(&verbose, "v", false, "print a PASS line per check")
	flag.Parse()
	if flag.NArg() > 0 || (*logURL == "" && *vectors == "") || (*logURL != "" && *vkey == "") {
		fmt.Fprintln(os.Stderr, "usage: cairninterop [-vectors DIR] [-url URL -vkey KEY [-key FILE] [-big] [-concurrent D] ] [-v]")
		os.Exit(2)
	}

	if *vectors != "" {
		checkVectors(*vectors)
	}
	if *logURL != "" {
		c := &checker{url: *logURL}
		c.run(*vkey, *keyFile, *big, *concurrent)
		fmt.Printf("INFO %d hash tiles read by tlog.TileHashReader, %d entry bundles came gzip-encoded\n", c.tileFetches, c.gzippedBundles)
	}
	fmt.Printf("%d passed, %d failed\n", passed, failed)
	if failed > 0 || passed == 0 {
		os.Exit(1)
	}
}

// run grows the log through the sizes where tile math changes (a tile's edge,
// a level-1 tile's edge) and verifies everything at each.
func (c *checker) run(vkey, keyFile string, big bool, concurrent time.Duration) {
	c.checkKey(vkey, keyFile)

	c.checkSize(true)
	c.checkSubmitOne()
	c.checkBadWrites()
	c.checkSize(true)
	firstTile := get(c.url + "/tile/0/000.p/1").body

	for _, target := range []int{2, 255, 256, 257, 511, 512, 1000} {
		c.growTo(target)
		c.checkSize(true)
	}
	c.checkPartialTilesKept(firstTile)
	c.checkEdgePaths()
	c.checkQueryErrors(int64(len(c.entries)))

	for _, target := range []int{65535, 65536, 65537, 70000} {
		c.growTo(target)
		c.checkSize(target == 70000)
	}
	c.checkUpperTiles()

	if big {
		for _, target := range []int{256001, 256257} {
			c.growTo(target)
			c.checkSize(false)
			c.checkLargeIndexTiles(int64(target))
		}
	}
	c.checkOldCheckpoints()
	if concurrent > 0 {
		c.checkConcurrent(concurrent)
	}
}

// checkSize verifies the log at its current size: checkpoint and STH, the
// root from tiles, inclusion and consistency proofs from tiles and from the
// CT API, tiles and bundles (all of them when full, else the last three), and
// get-entries.
func (c *checker) checkSize(full bool) {
	cp, ok := c.fetchCheckpoint()
	if !ok {
		return
	}
	info("size %d: root %x", cp.size, cp.root[:])
	if !equal("checkpoint size = entries sent", cp.size, int64(len(c.entries)), "GET /checkpoint") {
		if len(c.entries) == 0 {
			fatalf("the log must be empty at the start; it holds %d entries", cp.size)
		}
		return // every check below compares with the entries sent
	}
	c.checkSTH(cp)
	if cp.size == 0 {
		// RFC 6962's empty root; Go's tlog.TreeHash(0) would give all zeros.
		equal("size 0: root = SHA-256(\"\")", fmt.Sprintf("%x", cp.root[:]), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "checkpoint")
		c.checkEmptyTiles()
	} else {
		hr := c.hashReader(cp)
		c.checkTreeHash(cp, hr)
		c.checkInclusion(cp, hr)
		c.checkConsistency(cp, hr)
		c.checkTilesAndBundles(cp, hr, full)
		c.checkGetEntries(cp.size)
	}
	c.history = append(c.history, cp)
}
