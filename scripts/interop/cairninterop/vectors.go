package main

// The shared test vectors (test/vectors, a copy of ../shared/vectors; see its
// README) read by Go's tlog and note and the CT library: no server needed.

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	ct "github.com/google/certificate-transparency/go"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type treeVectors struct {
	Leaves    []string          `json:"leaves_hex"`
	Roots     map[string]string `json:"roots"`
	Inclusion []struct {
		Index    int64    `json:"index"`
		TreeSize int64    `json:"tree_size"`
		LeafHash string   `json:"leaf_hash"`
		Root     string   `json:"root"`
		Path     []string `json:"path"`
	} `json:"inclusion"`
	Consistency []struct {
		First      int64    `json:"first"`
		Second     int64    `json:"second"`
		FirstRoot  string   `json:"first_root"`
		SecondRoot string   `json:"second_root"`
		Proof      []string `json:"proof"`
	} `json:"consistency"`
}

func unhex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		fatalf("vector hex %q: %v", s, err)
	}
	return b
}

func unhexHash(s string) (h tlog.Hash) {
	copy(h[:], unhex(s))
	return h
}

func unhexAll(ss []string) [][]byte {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		out[i] = unhex(s)
	}
	return out
}

func readVectors(dir, name string, v interface{}) {
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		fatalf("vectors: %v", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		fatalf("vectors %s: %v", name, err)
	}
}

func checkVectors(dir string) {
	for _, name := range []string{"rfc6962-small.json", "rfc6962-1100.json"} {
		var v treeVectors
		readVectors(dir, name, &v)
		checkTreeVectors(name, v)
	}
	checkSignedNoteVector(dir)
	checkTilePathVectors(dir)
}

// checkTreeVectors: tlog.StoredHashes and tlog.TreeHash give every root,
// tlog.CheckRecord and the CT verifier accept every inclusion proof and
// tlog.ProveRecord rebuilds it, and the same for consistency proofs.
func checkTreeVectors(name string, v treeVectors) {
	leaves := unhexAll(v.Leaves)
	var stored []tlog.Hash
	hr := tlog.HashReaderFunc(func(indexes []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(indexes))
		for i, x := range indexes {
			out[i] = stored[x]
		}
		return out, nil
	})
	for n := 0; n <= len(leaves); n++ {
		if n > 0 {
			hs, err := tlog.StoredHashes(int64(n-1), leaves[n-1], hr)
			if !noError(name+": tlog.StoredHashes", err, fmt.Sprintf("leaf %d", n-1)) {
				return
			}
			stored = append(stored, hs...)
		}
		want, ok := v.Roots[strconv.Itoa(n)]
		if !ok {
			continue
		}
		if n == 0 {
			// tlog.TreeHash(0) is all zeros; RFC 6962 (and Cairn) use SHA-256("").
			continue
		}
		th, err := tlog.TreeHash(int64(n), hr)
		if noError(name+": tlog.TreeHash", err, fmt.Sprintf("size %d", n)) {
			equal(name+": root", th, unhexHash(want), fmt.Sprintf("size %d", n))
		}
	}
	for _, in := range v.Inclusion {
		where := fmt.Sprintf("index %d, size %d", in.Index, in.TreeSize)
		equal(name+": tlog.RecordHash", tlog.RecordHash(leaves[in.Index]), unhexHash(in.LeafHash), where)
		path := unhexAll(in.Path)
		noError(name+": tlog.CheckRecord", tlog.CheckRecord(toTlog(path), in.TreeSize, unhexHash(in.Root), in.Index, unhexHash(in.LeafHash)), where)
		noError(name+": ct VerifyInclusionProof", ctVerifier.VerifyInclusionProof(in.Index+1, in.TreeSize, path, unhex(in.Root), leaves[in.Index]), where)
		p, err := tlog.ProveRecord(in.TreeSize, in.Index, hr)
		check(name+": tlog.ProveRecord = vector", err == nil && sameProof(path, p), "%s: want the vector's %s, got %s (%v)", where, proofText(path), tlogProofText(p), err)
	}
	for _, cv := range v.Consistency {
		where := fmt.Sprintf("%d -> %d", cv.First, cv.Second)
		proof := unhexAll(cv.Proof)
		noError(name+": ct VerifyConsistencyProof", ctVerifier.VerifyConsistencyProof(cv.First, cv.Second, unhex(cv.FirstRoot), unhex(cv.SecondRoot), proof), where)
		if cv.First == cv.Second {
			continue // tlog.CheckTree wants first < second
		}
		noError(name+": tlog.CheckTree", tlog.CheckTree(toTlog(proof), cv.Second, unhexHash(cv.SecondRoot), cv.First, unhexHash(cv.FirstRoot)), where)
		p, err := tlog.ProveTree(cv.Second, cv.First, hr)
		check(name+": tlog.ProveTree = vector", err == nil && sameProof(proof, p), "%s: want the vector's %s, got %s (%v)", where, proofText(proof), tlogProofText(p), err)
	}
}

// checkSignedNoteVector: note.NewVerifier and note.NewSigner take the keys,
// note.Open accepts the checkpoint and note.Sign reproduces it byte for byte,
// and the STH's 0x0807 signature verifies over ct.SerializeSTHSignatureInput.
func checkSignedNoteVector(dir string) {
	var sn struct {
		KeyHash     string `json:"key_hash_hex"`
		Note        string `json:"note"`
		SignerKey   string `json:"signer_key"`
		VerifierKey string `json:"verifier_key"`
		STH         struct {
			Root      string `json:"sha256_root_hash"`
			Timestamp uint64 `json:"timestamp"`
			Signature string `json:"tree_head_signature"`
			TreeSize  uint64 `json:"tree_size"`
		} `json:"sth"`
	}
	readVectors(dir, "signed-note.json", &sn)
	v, err := note.NewVerifier(sn.VerifierKey)
	s, err2 := note.NewSigner(sn.SignerKey)
	if !noError("vector: note.NewVerifier", err, sn.VerifierKey) || !noError("vector: note.NewSigner", err2, "signer_key") {
		return
	}
	equal("vector: key hash", fmt.Sprintf("%08x", v.KeyHash()), sn.KeyHash, "key_hash_hex")
	n, err := note.Open([]byte(sn.Note), note.VerifierList(v))
	if noError("vector: note.Open", err, "note") {
		signed, err := note.Sign(&note.Note{Text: n.Text}, s)
		check("vector: note.Sign reproduces the note", err == nil && string(signed) == sn.Note, "want %q, got %q (%v)", sn.Note, signed, err)
	}

	sth := ct.SignedTreeHead{Version: ct.V1, TreeSize: sn.STH.TreeSize, Timestamp: sn.STH.Timestamp}
	root, _ := base64.StdEncoding.DecodeString(sn.STH.Root)
	copy(sth.SHA256RootHash[:], root)
	check("vector: STH root = checkpoint root", strings.Contains(sn.Note, "\n"+sn.STH.Root+"\n"), "want the note's root, got %s", sn.STH.Root)
	sig, _ := base64.StdEncoding.DecodeString(sn.STH.Signature)
	ds, err := ct.UnmarshalDigitallySigned(bytes.NewReader(sig))
	if !noError("vector: ct.UnmarshalDigitallySigned", err, "tree_head_signature") {
		return
	}
	input, err := ct.SerializeSTHSignatureInput(sth)
	if !noError("vector: ct.SerializeSTHSignatureInput", err, "sth") {
		return
	}
	pk, _ := base64.StdEncoding.DecodeString(strings.SplitN(sn.VerifierKey, "+", 3)[2])
	check("vector: STH Ed25519 signature", ds.HashAlgorithm == 8 && ds.SignatureAlgorithm == 7 && ed25519.Verify(ed25519.PublicKey(pk[1:]), input, ds.Signature),
		"want a valid 0x0807 signature, got hash %d, signature %d, valid %v", ds.HashAlgorithm, ds.SignatureAlgorithm, ed25519.Verify(ed25519.PublicKey(pk[1:]), input, ds.Signature))
}

// checkTilePathVectors: Go's Tile.Path with the height taken out is the
// C2SP path.
func checkTilePathVectors(dir string) {
	var tv struct {
		Paths []struct {
			Level int    `json:"level"`
			N     int64  `json:"n"`
			Width int    `json:"width"`
			Path  string `json:"path"`
		} `json:"paths"`
	}
	readVectors(dir, "tile-paths.json", &tv)
	for _, p := range tv.Paths {
		equal("vector: tile path from tlog.Tile.Path", c2spPath(tlog.Tile{H: 8, L: p.Level, N: p.N, W: p.Width}), p.Path, fmt.Sprintf("level %d, n %d, width %d", p.Level, p.N, p.Width))
	}
}
