package main

// Keys, checkpoints and signed tree heads (CONTRACT §2; C2SP signed-note and
// tlog-checkpoint; RFC 6962 §3.5 with the RFC 9162 Ed25519 scheme).

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"

	ct "github.com/google/certificate-transparency/go"
	ctclient "github.com/google/certificate-transparency/go/client"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type checkpoint struct {
	size int64
	root tlog.Hash
}

// checkKey takes the verifier key given on the command line (not the one the
// log reports about itself), checks it with note.NewVerifier and by
// recomputing its key hash, and compares it with GET /v1/log. With -key it
// also loads the private key with note.NewSigner.
func (c *checker) checkKey(vkey, keyFile string) {
	v, err := note.NewVerifier(vkey)
	if !noError("note.NewVerifier", err, vkey) {
		fatalf("cannot check signatures without a valid verifier key")
	}
	c.verifier = v
	parts := strings.SplitN(vkey, "+", 3) // the base64 part may hold '+'
	raw, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || len(raw) != 33 || raw[0] != 0x01 {
		fatalf("verifier key %q: want base64 of 0x01 || 32-byte Ed25519 key", vkey)
	}
	c.pubKey = ed25519.PublicKey(raw[1:])
	sum := sha256.Sum256(append([]byte(v.Name()+"\n"), raw...))
	equal("key hash = SHA-256(origin \\n 0x01 key)[:4]", fmt.Sprintf("%08x", binary.BigEndian.Uint32(sum[:4])), parts[1], vkey)

	r := get(c.url + "/v1/log")
	var log struct {
		Origin      string `json:"origin"`
		VerifierKey string `json:"verifier_key"`
	}
	if check("GET /v1/log", r.status == 200 && json.Unmarshal(r.body, &log) == nil, "want 200 and JSON, got %d %s", r.status, short(r.body)) {
		equal("/v1/log verifier_key", log.VerifierKey, vkey, "given with -vkey")
		equal("/v1/log origin", log.Origin, v.Name(), "the key's name")
	}

	if keyFile == "" {
		return
	}
	b, err := os.ReadFile(keyFile)
	if err != nil {
		fatalf("-key: %v", err)
	}
	s, err := note.NewSigner(strings.TrimSpace(string(b)))
	if noError("note.NewSigner", err, keyFile) {
		c.signer = s
		equal("signer key hash", s.KeyHash(), v.KeyHash(), keyFile)
	}
}

// parseCheckpoint opens a signed checkpoint with note.Open and parses its
// body by hand: tlog.ParseTree only takes the go.sum header
// ("go.sum database tree"), not a C2SP origin line. With -key, note.Sign must
// reproduce the note byte for byte (Ed25519 signatures are deterministic).
func (c *checker) parseCheckpoint(name string, text []byte) (checkpoint, bool) {
	n, err := note.Open(text, note.VerifierList(c.verifier))
	if !noError(name+": note.Open", err, short(text)) {
		return checkpoint{}, false
	}
	check(name+": one signature, by the log", len(n.Sigs) == 1 && n.Sigs[0].Name == c.verifier.Name() && n.Sigs[0].Hash == c.verifier.KeyHash(),
		"want one signature by %s+%08x, got %+v", c.verifier.Name(), c.verifier.KeyHash(), n.Sigs)
	lines := strings.Split(n.Text, "\n")
	if !check(name+": three body lines", len(lines) == 4 && lines[3] == "", "want origin, size, root, each ending in \\n; got %q", n.Text) {
		return checkpoint{}, false
	}
	equal(name+": origin line", lines[0], c.verifier.Name(), "checkpoint body")
	size, err := strconv.ParseInt(lines[1], 10, 64)
	sizeOK := check(name+": size line", err == nil && size >= 0 && strconv.FormatInt(size, 10) == lines[1],
		"want a canonical decimal, got %q", lines[1])
	root, err := base64.StdEncoding.DecodeString(lines[2])
	rootOK := check(name+": root line", err == nil && len(root) == 32 && base64.StdEncoding.EncodeToString(root) == lines[2],
		"want canonical base64 of 32 bytes, got %q", lines[2])
	if c.signer != nil {
		mine, err := note.Sign(&note.Note{Text: n.Text}, c.signer)
		check(name+": note.Sign reproduces it", err == nil && bytes.Equal(mine, text), "want Cairn's\n%s\ngot Go's (%v)\n%s", text, err, mine)
	}
	if !sizeOK || !rootOK {
		return checkpoint{}, false
	}
	cp := checkpoint{size: size}
	copy(cp.root[:], root)
	return cp, true
}

// fetchCheckpoint reads GET /checkpoint and its headers (CONTRACT §3 tiles).
func (c *checker) fetchCheckpoint() (checkpoint, bool) {
	r := get(c.url + "/checkpoint")
	if !equal("GET /checkpoint status", r.status, 200, short(r.body)) {
		return checkpoint{}, false
	}
	equal("/checkpoint Content-Type", r.header.Get("Content-Type"), "text/plain; charset=utf-8", "header")
	equal("/checkpoint Cache-Control", r.header.Get("Cache-Control"), "no-cache", "header")
	return c.parseCheckpoint("checkpoint", r.body)
}

// checkSTH reads the STH with the CT library's client.GetSTH and verifies its
// signature: the 2016 library's SignatureVerifier knows no Ed25519, so the
// RFC 9162 scheme 0x0807 is checked here over ct.SerializeSTHSignatureInput.
// The STH must carry the checkpoint's root when it is for the same size, and
// its timestamp must increase (CONTRACT §2).
func (c *checker) checkSTH(cp checkpoint) {
	sth, err := ctclient.New(c.url, http.DefaultClient).GetSTH()
	if !noError("ct client.GetSTH", err, "GET /ct/v1/get-sth") {
		return
	}
	r := get(c.url + "/ct/v1/get-sth")
	check("get-sth Content-Type", strings.HasPrefix(r.header.Get("Content-Type"), "application/json"),
		"want application/json, got %q", r.header.Get("Content-Type"))
	ds := sth.TreeHeadSignature
	check("STH DigitallySigned is Ed25519 (0x0807)", ds.HashAlgorithm == 8 && ds.SignatureAlgorithm == 7 && len(ds.Signature) == 64,
		"want hash 8, signature 7, 64 bytes; got %d, %d, %d bytes", ds.HashAlgorithm, ds.SignatureAlgorithm, len(ds.Signature))
	sth.Version = ct.V1
	input, err := ct.SerializeSTHSignatureInput(*sth)
	if noError("ct.SerializeSTHSignatureInput", err, fmt.Sprintf("size %d", sth.TreeSize)) {
		check("STH signature verifies", ed25519.Verify(c.pubKey, input, ds.Signature),
			"want a valid Ed25519 signature over the TreeHeadSignature, got an invalid one (size %d, timestamp %d)", sth.TreeSize, sth.Timestamp)
	}
	if int64(sth.TreeSize) == cp.size {
		check("STH root = checkpoint root", bytes.Equal(sth.SHA256RootHash[:], cp.root[:]),
			"size %d: want %x, got %x", cp.size, cp.root[:], sth.SHA256RootHash[:])
	} else if verbose {
		info("STH size %d, checkpoint size %d: the log grew between the two reads", sth.TreeSize, cp.size)
	}
	if c.lastSTH != nil {
		last := c.lastSTH
		check("STH timestamps increase", sth.Timestamp > last.Timestamp || (sth.Timestamp == last.Timestamp && sth.TreeSize == last.TreeSize),
			"want a timestamp after %d (size %d), got %d (size %d)", last.Timestamp, last.TreeSize, sth.Timestamp, sth.TreeSize)
		check("STH size never shrinks", sth.TreeSize >= last.TreeSize, "want at least %d, got %d", last.TreeSize, sth.TreeSize)
	}
	c.lastSTH = sth
}
