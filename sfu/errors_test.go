package sfu

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"strconv"
	"strings"
	"testing"
)

// TestErrorCodeRoundTrip: every sentinel, bare or wrapped, is named by
// ErrorCode and rebuilt by ErrorFromCode into an error that matches it
// (and no other) and reads as the original.
func TestErrorCodeRoundTrip(t *testing.T) {
	codes := map[string]bool{}
	if got := ErrorCodes(); len(got) != len(errorCodes) {
		t.Fatalf("ErrorCodes() = %v", got)
	}
	for i, e := range errorCodes {
		if ErrorCodes()[i] != e.code {
			t.Fatalf("ErrorCodes()[%d] = %q, want %q", i, ErrorCodes()[i], e.code)
		}
		if e.code == "" || e.code == CodeInternal || codes[e.code] {
			t.Fatalf("code %q: empty, %q or used twice", e.code, CodeInternal)
		}
		codes[e.code] = true
		for _, err := range []error{e.err, fmt.Errorf("%w: %q", e.err, "detail"), fmt.Errorf("context: %w", fmt.Errorf("%w: detail", e.err))} {
			if got := ErrorCode(err); got != e.code {
				t.Errorf("ErrorCode(%q) = %q, want %q", err, got, e.code)
			}
			rebuilt := ErrorFromCode(e.code, err.Error())
			if rebuilt.Error() != err.Error() {
				t.Errorf("rebuilt %q reads %q", err, rebuilt)
			}
			for _, other := range errorCodes {
				if errors.Is(rebuilt, other.err) != (other.err == e.err) {
					t.Errorf("rebuilt %q: errors.Is(%q) = %v", err, other.err, errors.Is(rebuilt, other.err))
				}
			}
			if got := ErrorCode(rebuilt); got != e.code {
				t.Errorf("ErrorCode(rebuilt %q) = %q, want %q", err, got, e.code)
			}
		}
		if rebuilt := ErrorFromCode(e.code, ""); rebuilt != e.err {
			t.Errorf("ErrorFromCode(%q, \"\") = %v, want the sentinel", e.code, rebuilt)
		}
	}
}

// TestErrorCodeNotASentinel: nil has no code, an error of no sentinel is
// internal, and so is a code this node does not know.
func TestErrorCodeNotASentinel(t *testing.T) {
	if ErrorCode(nil) != "" || ErrorFromCode("", "") != nil || ErrorFromCode("", "text") != nil {
		t.Fatal("nil does not round-trip")
	}
	if got := ErrorCode(errors.New("sfu: something else")); got != CodeInternal {
		t.Fatalf("ErrorCode of an unknown error = %q", got)
	}
	for _, code := range []string{CodeInternal, "from_a_newer_node"} {
		err := ErrorFromCode(code, "sfu: boom")
		if err == nil || err.Error() != "sfu: boom" || ErrorCode(err) != CodeInternal {
			t.Errorf("ErrorFromCode(%q) = %v (code %q)", code, err, ErrorCode(err))
		}
		for _, e := range errorCodes {
			if errors.Is(err, e.err) {
				t.Errorf("ErrorFromCode(%q) matches %v", code, e.err)
			}
		}
		if err := ErrorFromCode(code, ""); err == nil || err.Error() == "" {
			t.Errorf("ErrorFromCode(%q, \"\") = %v", code, err)
		}
	}
	// Several sentinels: the first of errorCodes wins.
	both := fmt.Errorf("%w: %w", ErrBadSDP, ErrRejoin)
	if got := ErrorCode(both); got != "rejoin" {
		t.Fatalf("ErrorCode(%q) = %q, want rejoin", both, got)
	}
}

// sentinelMessages reads an errors.go: the text of every Err variable,
// which must be made by errors.New.
func sentinelMessages(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.VAR {
			continue
		}
		for _, spec := range g.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, name := range vs.Names {
				if !strings.HasPrefix(name.Name, "Err") {
					continue
				}
				var call *ast.CallExpr
				if i < len(vs.Values) {
					call, _ = vs.Values[i].(*ast.CallExpr)
				}
				var sel *ast.SelectorExpr
				if call != nil {
					sel, _ = call.Fun.(*ast.SelectorExpr)
				}
				if sel == nil || sel.Sel.Name != "New" || len(call.Args) != 1 {
					t.Fatalf("%s is not errors.New(...): extend sentinelMessages", name.Name)
				}
				lit, ok := call.Args[0].(*ast.BasicLit)
				if !ok {
					t.Fatalf("%s: the message is not a literal", name.Name)
				}
				msg, err := strconv.Unquote(lit.Value)
				if err != nil {
					t.Fatal(err)
				}
				out[name.Name] = msg
			}
		}
	}
	return out
}

// TestErrorCodesCoverEverySentinel reads errors.go: every sentinel there
// must have an entry in errorCodes.
func TestErrorCodesCoverEverySentinel(t *testing.T) {
	sentinels := sentinelMessages(t, "errors.go")
	if len(sentinels) < 11 {
		t.Fatalf("found only %d sentinels in errors.go: is the search still right?", len(sentinels))
	}
	listed := map[string]bool{}
	for _, e := range errorCodes {
		listed[e.err.Error()] = true
	}
	for name, msg := range sentinels {
		if !listed[msg] {
			t.Errorf("%s (%q) has no entry in errorCodes", name, msg)
		}
	}
	if len(listed) != len(sentinels) || len(errorCodes) != len(sentinels) {
		t.Errorf("errors.go has %d sentinels, errorCodes %d entries (%d distinct)", len(sentinels), len(errorCodes), len(listed))
	}
}
