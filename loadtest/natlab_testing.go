package loadtest

import (
	"errors"
	"os"
	"testing"
)

// NewTestNATLab builds a NATLab that is removed, and checked to leave
// nothing behind, when the test ends; it skips or fails as NewTestLab
// does where no lab can be built.
func NewTestNATLab(t testing.TB, kinds ...NATKind) *NATLab {
	t.Helper()
	lab, err := NewNATLab(kinds...)
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
