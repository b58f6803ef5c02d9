package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
)

// Every check ends in exactly one of pass or failf; main's exit status is
// read from these two counters.
var passed, failed int

// verbose also prints a PASS line per check (flag -v).
var verbose bool

func pass(name string) {
	passed++
	if verbose {
		fmt.Printf("PASS %s\n", name)
	}
}

// failf prints one FAIL line; the message says what was expected and what
// came back.
func failf(name, format string, a ...interface{}) {
	failed++
	fmt.Printf("FAIL %s: %s\n", name, fmt.Sprintf(format, a...))
}

// check records ok as a pass, else a FAIL line with the formatted message.
func check(name string, ok bool, format string, a ...interface{}) bool {
	if ok {
		pass(name)
	} else {
		failf(name, format, a...)
	}
	return ok
}

// equal checks got == want and prints both when they differ.
func equal[T comparable](name string, got, want T, where string) bool {
	return check(name, got == want, "%s: want %v, got %v", where, want, got)
}

// noError checks that a library call accepted what Cairn served.
func noError(name string, err error, where string) bool {
	return check(name, err == nil, "%s: want no error, got %v", where, err)
}

func info(format string, a ...interface{}) { fmt.Printf("INFO "+format+"\n", a...) }

// fatalf stops the run when the checker cannot go on (log unreachable, a
// write refused): exit status 2, not a check result.
func fatalf(format string, a ...interface{}) {
	fmt.Printf("FATAL "+format+"\n", a...)
	os.Exit(2)
}

type response struct {
	status int
	header http.Header
	body   []byte
	// gzipped: the server sent Content-Encoding: gzip and Go's transport
	// decompressed it (Cairn may do so for entry bundles).
	gzipped bool
}

func get(url string) response {
	r, err := http.Get(url)
	if err != nil {
		fatalf("GET %s: %v", url, err)
	}
	return readResponse(url, r)
}

func post(url, contentType string, body []byte) response {
	r, err := http.Post(url, contentType, bytes.NewReader(body))
	if err != nil {
		fatalf("POST %s: %v", url, err)
	}
	return readResponse(url, r)
}

func readResponse(url string, r *http.Response) response {
	defer r.Body.Close()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		fatalf("reading %s: %v", url, err)
	}
	return response{status: r.StatusCode, header: r.Header, body: b, gzipped: r.Uncompressed}
}

// short keeps response bodies in FAIL lines readable.
func short(b []byte) string {
	if len(b) > 200 {
		return fmt.Sprintf("%q…", b[:200])
	}
	return fmt.Sprintf("%q", b)
}
