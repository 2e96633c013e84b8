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
