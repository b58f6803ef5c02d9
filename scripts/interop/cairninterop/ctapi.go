package main

// The RFC 6962 §4 read API (CONTRACT §3 "RFC 6962 names"), checked with the
// CT library's merkletree.MerkleVerifier and against the proofs tlog builds
// from tiles.

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"

	"github.com/google/certificate-transparency/go/merkletree"
	"golang.org/x/mod/sumdb/tlog"
)

var ctVerifier = merkletree.NewMerkleVerifier(func(b []byte) []byte { h := sha256.Sum256(b); return h[:] })

func decodeHashes(ss []string) [][]byte {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		out[i], _ = base64.StdEncoding.DecodeString(s)
	}
	return out
}

func toTlog(p [][]byte) []tlog.Hash {
	out := make([]tlog.Hash, len(p))
	for i := range p {
		copy(out[i][:], p[i])
	}
	return out
}

func sameProof(a [][]byte, b []tlog.Hash) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i][:]) {
			return false
		}
	}
	return true
}

// getJSON reads a JSON answer into v and checks it is a 200.
func (c *checker) getJSON(name, path string, v interface{}) bool {
	r := get(c.url + path)
	return check(name, r.status == 200 && json.Unmarshal(r.body, v) == nil, "%s: want 200 and JSON, got %d %s", path, r.status, short(r.body))
}

// checkInclusion proves a few leaves (first, last, middle, tile edges) three
// ways: tlog.ProveRecord from tiles, get-entry-and-proof and
// get-proof-by-hash; each proof must verify with tlog.CheckRecord or the CT
// verifier, and the log's audit paths must equal tlog's.
func (c *checker) checkInclusion(cp checkpoint, hr tlog.HashReader) {
	size := cp.size
	indexes := []int64{0, size - 1, size / 2, size / 3, 255, 256, 65535, 65536}
	for _, i := range indexes {
		if i >= size {
			continue
		}
		where := fmt.Sprintf("index %d, size %d", i, size)
		proof, err := tlog.ProveRecord(size, i, hr)
		if !noError("tlog.ProveRecord from tiles", err, where) {
			continue
		}
		noError("tlog.CheckRecord (proof from tiles)", tlog.CheckRecord(proof, size, cp.root, i, c.leafHashes[i]), where)

		var ep struct {
			LeafInput string   `json:"leaf_input"`
			ExtraData string   `json:"extra_data"`
			AuditPath []string `json:"audit_path"`
		}
		if c.getJSON("GET get-entry-and-proof", fmt.Sprintf("/ct/v1/get-entry-and-proof?leaf_index=%d&tree_size=%d", i, size), &ep) {
			leaf, _ := base64.StdEncoding.DecodeString(ep.LeafInput)
			check("get-entry-and-proof leaf_input = entry sent", bytes.Equal(leaf, c.entries[i]), "%s: want the %d bytes sent, got %d bytes", where, len(c.entries[i]), len(leaf))
			equal("get-entry-and-proof extra_data", ep.ExtraData, "", where)
			path := decodeHashes(ep.AuditPath)
			noError("ct VerifyInclusionProof (get-entry-and-proof)", ctVerifier.VerifyInclusionProof(i+1, size, path, cp.root[:], leaf), where)
			check("get-entry-and-proof audit_path = tlog.ProveRecord", sameProof(path, proof), "%s: want tlog's %s, got %s", where, tlogProofText(proof), proofText(path))
		}

		lh := c.leafHashes[i]
		q := url.QueryEscape(base64.StdEncoding.EncodeToString(lh[:]))
		var pb struct {
			LeafIndex int64    `json:"leaf_index"`
			AuditPath []string `json:"audit_path"`
		}
		if c.getJSON("GET get-proof-by-hash", fmt.Sprintf("/ct/v1/get-proof-by-hash?hash=%s&tree_size=%d", q, size), &pb) {
			equal("get-proof-by-hash leaf_index", pb.LeafIndex, i, where)
			path := decodeHashes(pb.AuditPath)
			noError("ct VerifyInclusionProof (get-proof-by-hash)", ctVerifier.VerifyInclusionProof(pb.LeafIndex+1, size, path, cp.root[:], c.entries[i]), where)
			check("get-proof-by-hash audit_path = tlog.ProveRecord", sameProof(path, proof), "%s: want tlog's %s, got %s", where, tlogProofText(proof), proofText(path))
		}
	}
}

// checkConsistency proves the current tree consistent with every earlier
// checkpoint the checker saw, with tlog.ProveTree from tiles and with
// get-sth-consistency, verified by tlog.CheckTree and the CT verifier.
func (c *checker) checkConsistency(cp checkpoint, hr tlog.HashReader) {
	for _, old := range c.history {
		if old.size == 0 {
			continue
		}
		where := fmt.Sprintf("%d -> %d", old.size, cp.size)
		proof, err := tlog.ProveTree(cp.size, old.size, hr)
		if noError("tlog.ProveTree from tiles", err, where) {
			noError("tlog.CheckTree (proof from tiles)", tlog.CheckTree(proof, cp.size, cp.root, old.size, old.root), where)
		}
		var cr struct {
			Consistency []string `json:"consistency"`
		}
		if !c.getJSON("GET get-sth-consistency", fmt.Sprintf("/ct/v1/get-sth-consistency?first=%d&second=%d", old.size, cp.size), &cr) {
			continue
		}
		check("get-sth-consistency has a consistency list", cr.Consistency != nil, "%s: want a list, got none", where)
		got := decodeHashes(cr.Consistency)
		noError("ct VerifyConsistencyProof", ctVerifier.VerifyConsistencyProof(old.size, cp.size, old.root[:], cp.root[:], got), where)
		noError("tlog.CheckTree (get-sth-consistency)", tlog.CheckTree(toTlog(got), cp.size, cp.root, old.size, old.root), where)
		if err == nil {
			check("get-sth-consistency = tlog.ProveTree", sameProof(got, proof), "%s: want tlog's %s, got %s", where, tlogProofText(proof), proofText(got))
		}
	}
}

// checkGetEntries reads the last three entries with an end past the tree
// (clamped, CONTRACT §3). The CT library's GetEntries is not used: it parses
// leaf_input as an X.509 MerkleTreeLeaf, where Cairn sends the raw entry.
func (c *checker) checkGetEntries(size int64) {
	start := size - 3
	if start < 0 {
		start = 0
	}
	var ge struct {
		Entries []struct {
			LeafInput string `json:"leaf_input"`
			ExtraData string `json:"extra_data"`
		} `json:"entries"`
	}
	path := fmt.Sprintf("/ct/v1/get-entries?start=%d&end=%d", start, size+5)
	if !c.getJSON("GET get-entries", path, &ge) {
		return
	}
	if !equal("get-entries count (end clamped to the tree)", int64(len(ge.Entries)), size-start, path) {
		return
	}
	for j, e := range ge.Entries {
		leaf, _ := base64.StdEncoding.DecodeString(e.LeafInput)
		check("get-entries leaf_input = entry sent", bytes.Equal(leaf, c.entries[start+int64(j)]) && e.ExtraData == "",
			"%s: entry %d: want the bytes sent and empty extra_data, got %d bytes and %q", path, start+int64(j), len(leaf), e.ExtraData)
	}
}

// checkQueryErrors: out-of-range and non-canonical query numbers are 400
// (CONTRACT §3).
func (c *checker) checkQueryErrors(size int64) {
	for _, p := range []string{
		fmt.Sprintf("/ct/v1/get-entries?start=%d&end=%d", size, size+1),
		"/ct/v1/get-entries?start=2&end=1",
		fmt.Sprintf("/ct/v1/get-sth-consistency?first=0&second=%d", size),
		fmt.Sprintf("/ct/v1/get-sth-consistency?first=1&second=%d", size+1),
		fmt.Sprintf("/ct/v1/get-sth-consistency?first=01&second=%d", size),
		"/ct/v1/get-entry-and-proof?leaf_index=0&tree_size=0",
		"/ct/v1/get-entry-and-proof?leaf_index=0&tree_size=1&tree_size=1",
		"/ct/v1/get-entry-and-proof?leaf_index=-0&tree_size=1",
	} {
		r := get(c.url + p)
		equal("bad query is 400", r.status, 400, p)
	}
}

// proofText shows a proof's hashes by their first four bytes, for FAIL lines.
func proofText(p [][]byte) string {
	s := make([]string, len(p))
	for i, h := range p {
		s[i] = fmt.Sprintf("%x", h[:min4(len(h))])
	}
	return "[" + strings.Join(s, " ") + "]"
}

func tlogProofText(p []tlog.Hash) string {
	b := make([][]byte, len(p))
	for i := range p {
		b[i] = p[i][:]
	}
	return proofText(b)
}

func min4(n int) int {
	if n < 4 {
		return n
	}
	return 4
}
