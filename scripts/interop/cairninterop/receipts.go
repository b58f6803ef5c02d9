package main

// Writes and receipts (CONTRACT §1 and §3 "Write"): every receipt's proof
// must verify against its own checkpoint with tlog.CheckRecord and the CT
// verifier.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"

	"golang.org/x/mod/sumdb/tlog"
)

const maxEntry = 65535

type receipt struct {
	Index          int64    `json:"index"`
	LeafHash       string   `json:"leaf_hash"`
	Checkpoint     string   `json:"checkpoint"`
	InclusionProof []string `json:"inclusion_proof"`
	Duplicate      bool     `json:"duplicate"`
}

// makeEntry returns the checker's i-th entry; entry 300 is the largest one
// allowed, to exercise the uint16 length in entry bundles.
func makeEntry(i int) []byte {
	if i == 300 {
		b := bytes.Repeat([]byte{'M'}, maxEntry)
		copy(b, fmt.Sprintf("max entry %d", i))
		return b
	}
	return []byte(fmt.Sprintf("interop entry %d %s", i, strings.Repeat("z", i%37)))
}

func (c *checker) verifyReceipt(name string, rc receipt, cp checkpoint, entry []byte, index int64, duplicate bool) {
	where := fmt.Sprintf("index %d, size %d", index, cp.size)
	lh := tlog.RecordHash(entry)
	equal(name+": leaf_hash", rc.LeafHash, base64.StdEncoding.EncodeToString(lh[:]), where)
	equal(name+": index", rc.Index, index, where)
	equal(name+": duplicate", rc.Duplicate, duplicate, where)
	proof := decodeHashes(rc.InclusionProof)
	noError(name+": tlog.CheckRecord", tlog.CheckRecord(toTlog(proof), cp.size, cp.root, rc.Index, lh), where)
	noError(name+": ct VerifyInclusionProof", ctVerifier.VerifyInclusionProof(rc.Index+1, cp.size, proof, cp.root[:], entry), where)
}

func (c *checker) logged(entry []byte) {
	c.entries = append(c.entries, entry)
	c.leafHashes = append(c.leafHashes, tlog.RecordHash(entry))
}

// checkSubmitOne adds entry 0 with POST /v1/entries (201), then again: the
// second answer is 200 with the first one's index and "duplicate": true.
func (c *checker) checkSubmitOne() {
	entry := makeEntry(0)
	for _, dup := range []bool{false, true} {
		name := "single receipt"
		want := 201
		if dup {
			name, want = "duplicate receipt", 200
		}
		r := post(c.url+"/v1/entries", "application/octet-stream", entry)
		var rc receipt
		if !check("POST /v1/entries", r.status == want && json.Unmarshal(r.body, &rc) == nil, "%s: want %d and JSON, got %d %s", name, want, r.status, short(r.body)) {
			fatalf("the log refused a write; is it empty and open for writes?")
		}
		if !dup {
			c.logged(entry)
		}
		if cp, ok := c.parseCheckpoint(name+" checkpoint", []byte(rc.Checkpoint)); ok {
			c.verifyReceipt(name, rc, cp, entry, 0, dup)
		}
	}
}

// checkBadWrites: an empty entry, one past 65,535 bytes and a batch of 1001
// are refused (CONTRACT §1, §3).
func (c *checker) checkBadWrites() {
	s := post(c.url+"/v1/entries", "application/octet-stream", nil).status
	check("empty entry refused", s == 400, "want 400, got %d", s)
	s = post(c.url+"/v1/entries", "application/octet-stream", make([]byte, maxEntry+1)).status
	equal("entry of 65,536 bytes refused", s, 413, "POST /v1/entries")
	var rq struct {
		Entries []string `json:"entries"`
	}
	for i := 0; i < 1001; i++ {
		rq.Entries = append(rq.Entries, base64.StdEncoding.EncodeToString([]byte(fmt.Sprintf("refused %d", i))))
	}
	body, _ := json.Marshal(rq)
	equal("batch of 1001 refused", post(c.url+"/v1/batch", "application/json", body).status, 400, "POST /v1/batch")
}

// addBatch adds the next n entries with POST /v1/batch and verifies a sample
// of the receipts against the batch's checkpoint.
func (c *checker) addBatch(n int) {
	start := len(c.entries)
	var rq struct {
		Entries []string `json:"entries"`
	}
	batch := make([][]byte, n)
	for i := range batch {
		batch[i] = makeEntry(start + i)
		rq.Entries = append(rq.Entries, base64.StdEncoding.EncodeToString(batch[i]))
	}
	body, _ := json.Marshal(rq)
	r := post(c.url+"/v1/batch", "application/json", body)
	var br struct {
		Checkpoint string    `json:"checkpoint"`
		Receipts   []receipt `json:"receipts"`
	}
	if r.status != 200 || json.Unmarshal(r.body, &br) != nil {
		fatalf("POST /v1/batch of %d: want 200 and JSON, got %d %s", n, r.status, short(r.body))
	}
	cp, ok := c.parseCheckpoint("batch checkpoint", []byte(br.Checkpoint))
	if !ok {
		fatalf("cannot go on without the batch's checkpoint")
	}
	if !equal("batch receipt count", len(br.Receipts), n, fmt.Sprintf("batch from %d", start)) {
		fatalf("cannot match receipts to entries")
	}
	for i, rc := range br.Receipts {
		c.logged(batch[i])
		if n <= 10 || i%97 == 0 || i == n-1 {
			c.verifyReceipt("batch receipt", rc, cp, batch[i], int64(start+i), false)
		}
	}
}

// growTo adds batches of at most 1000 until the log holds target entries.
func (c *checker) growTo(target int) {
	for len(c.entries) < target {
		n := target - len(c.entries)
		if n > 1000 {
			n = 1000
		}
		c.addBatch(n)
	}
}
