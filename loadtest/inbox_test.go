package loadtest

import (
	"context"
	"fmt"
	"testing"
)

// An inbox that keeps some messages holds between keep and twice keep of
// the latest, and still finds them; one that keeps all finds the first.
func TestInboxKeep(t *testing.T) {
	ctx := context.Background()
	b := newInbox(8)
	for i := range 100 {
		b.put(Message{Type: fmt.Sprint(i)})
		if n := len(b.all()); n > 16 {
			t.Fatalf("after %d messages the inbox holds %d, want at most 16", i+1, n)
		}
	}
	if n := len(b.all()); n < 8 {
		t.Fatalf("the inbox holds %d, want at least 8", n)
	}
	for _, want := range []string{"99", "92"} {
		if m, err := b.waitFor(ctx, func(m Message) bool { return m.Type == want }); err != nil || m.Type != want {
			t.Fatalf("message %s: %v", want, err)
		}
	}

	all := newInbox(0)
	for i := range 100 {
		all.put(Message{Type: fmt.Sprint(i)})
	}
	if m, err := all.waitFor(ctx, func(m Message) bool { return m.Type == "0" }); err != nil || len(all.all()) != 100 {
		t.Fatalf("an inbox keeping all lost the first message: %v %v", m, err)
	}
}
