package loadtest

import (
	"errors"
	"os"
	"testing"
)

// NewTestLab builds a Lab that is removed, and checked to leave nothing
// behind, when the test ends. Where no lab can be built the test is
// skipped with the reason, except in CI (CI=true), where `make test`
// installs what a lab needs and a missing lab is a failure.
func NewTestLab(t testing.TB) *Lab {
	t.Helper()
	lab, err := NewLab()
	return testLab(t, lab, err)
}

// NewTestNATLab builds a NATLab that is removed, and checked to leave
// nothing behind, when the test ends; it skips or fails as NewTestLab
// does where no lab can be built.
func NewTestNATLab(t testing.TB, kinds ...NATKind) *NATLab {
	t.Helper()
	lab, err := NewNATLab(kinds...)
	return testLab(t, lab, err)
}

// testLab skips or fails the test on err, and otherwise closes lab and
// checks its leftovers when the test ends.
func testLab[L interface {
	Close() error
	Leftovers() error
}](t testing.TB, lab L, err error) L {
	t.Helper()
	if errors.Is(err, ErrNoLab) && os.Getenv("CI") != "true" {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := lab.Close(); err != nil {
			t.Error(err)
		}
		if err := lab.Leftovers(); err != nil {
			t.Error(err)
		}
	})
	return lab
}
