package main

// Readers that lag behind and readers racing a writer: what a monitor pinned
// to an old checkpoint, or one polling a busy log, sees.

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand"
	"net/url"
	"sync/atomic"
	"time"

	"golang.org/x/mod/sumdb/tlog"
)

// checkOldCheckpoints rebuilds every earlier checkpoint's root and a few
// inclusion proofs from tiles after the log has grown past it: old partial
// tiles must still be served and still match.
func (c *checker) checkOldCheckpoints() {
	for _, old := range c.history {
		if old.size == 0 {
			continue
		}
		hr := c.hashReader(old)
		c.checkTreeHash(old, hr)
		for _, i := range []int64{0, old.size - 1, old.size / 2} {
			where := fmt.Sprintf("old size %d, index %d", old.size, i)
			p, err := tlog.ProveRecord(old.size, i, hr)
			if noError("old checkpoint: tlog.ProveRecord", err, where) {
				noError("old checkpoint: tlog.CheckRecord", tlog.CheckRecord(p, old.size, old.root, i, c.leafHashes[i]), where)
			}
		}
	}
}

// checkConcurrent runs for d: one goroutine adds batches of 1..300 entries
// while this one verifies each new checkpoint from tiles, a random inclusion
// proof from tiles and from get-proof-by-hash, consistency with the previous
// checkpoint, and the STH.
func (c *checker) checkConcurrent(d time.Duration) {
	var stop int32
	done := make(chan struct{})
	go func() {
		defer close(done)
		for k := 0; atomic.LoadInt32(&stop) == 0; k++ {
			var rq struct {
				Entries []string `json:"entries"`
			}
			n := 1 + rand.Intn(300)
			for i := 0; i < n; i++ {
				rq.Entries = append(rq.Entries, base64.StdEncoding.EncodeToString([]byte(fmt.Sprintf("concurrent %d %d", k, i))))
			}
			body, _ := json.Marshal(rq)
			r := post(c.url+"/v1/batch", "application/json", body)
			equal("concurrent: POST /v1/batch", r.status, 200, short(r.body))
		}
	}()
	var prev checkpoint
	rounds := 0
	for end := time.Now().Add(d); time.Now().Before(end); rounds++ {
		cp, ok := c.fetchCheckpoint()
		if !ok {
			continue
		}
		hr := c.hashReader(cp)
		c.checkTreeHash(cp, hr)
		c.checkRandomLeaf(cp, hr)
		if prev.size > cp.size {
			failf("concurrent: checkpoint never shrinks", "want size at least %d, got %d", prev.size, cp.size)
		} else if prev.size > 0 {
			c.checkConsistencyPair(prev, cp, hr)
		}
		c.checkSTH(cp)
		prev = cp
	}
	atomic.StoreInt32(&stop, 1)
	<-done
	info("concurrent: %d reader rounds while writing, final size %d", rounds, prev.size)
}

func (c *checker) checkRandomLeaf(cp checkpoint, hr tlog.HashReader) {
	i := rand.Int63n(cp.size)
	where := fmt.Sprintf("index %d, size %d", i, cp.size)
	p, err := tlog.ProveRecord(cp.size, i, hr)
	if !noError("concurrent: tlog.ProveRecord", err, where) {
		return
	}
	lh, err := hr.ReadHashes([]int64{tlog.StoredHashIndex(0, i)})
	if !noError("concurrent: leaf hash from tile", err, where) {
		return
	}
	noError("concurrent: tlog.CheckRecord", tlog.CheckRecord(p, cp.size, cp.root, i, lh[0]), where)
	// The CT API, asked about a tree that may already be superseded.
	var pb struct {
		LeafIndex int64    `json:"leaf_index"`
		AuditPath []string `json:"audit_path"`
	}
	q := url.QueryEscape(base64.StdEncoding.EncodeToString(lh[0][:]))
	if c.getJSON("concurrent: GET get-proof-by-hash", fmt.Sprintf("/ct/v1/get-proof-by-hash?hash=%s&tree_size=%d", q, cp.size), &pb) {
		check("concurrent: get-proof-by-hash = tlog.ProveRecord", pb.LeafIndex == i && sameProof(decodeHashes(pb.AuditPath), p),
			"%s: want index %d and tlog's proof, got index %d and %d hashes", where, i, pb.LeafIndex, len(pb.AuditPath))
	}
}

func (c *checker) checkConsistencyPair(old, cp checkpoint, hr tlog.HashReader) {
	where := fmt.Sprintf("%d -> %d", old.size, cp.size)
	var cr struct {
		Consistency []string `json:"consistency"`
	}
	if c.getJSON("concurrent: GET get-sth-consistency", fmt.Sprintf("/ct/v1/get-sth-consistency?first=%d&second=%d", old.size, cp.size), &cr) {
		noError("concurrent: ct VerifyConsistencyProof", ctVerifier.VerifyConsistencyProof(old.size, cp.size, old.root[:], cp.root[:], decodeHashes(cr.Consistency)), where)
	}
	if old.size < cp.size {
		p, err := tlog.ProveTree(cp.size, old.size, hr)
		if noError("concurrent: tlog.ProveTree from tiles", err, where) {
			noError("concurrent: tlog.CheckTree", tlog.CheckTree(p, cp.size, cp.root, old.size, old.root), where)
		}
	}
}
