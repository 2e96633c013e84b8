package signaling

import (
	"encoding/json"
	"testing"

	"github.com/sfu-project/sfu/sfu"
)

// TestJoinedMaxFileBytes: joined carries max_file_bytes as maxFileBytes
// for the web client's file transfer, and leaves it out when it is 0; a
// negative limit is refused.
func TestJoinedMaxFileBytes(t *testing.T) {
	for _, tc := range []struct {
		limit int64
		want  any // the field as decoded, nil when absent
	}{
		{1 << 30, float64(1 << 30)},
		{5 << 20, float64(5 << 20)},
		{0, nil},
	} {
		data, err := encodeEvent(sfu.Joined{Room: "r", Self: sfu.ParticipantInfo{ID: "PA_a"}}, 2, nil, nil, tc.limit)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
		if got := m["maxFileBytes"]; got != tc.want {
			t.Errorf("max_file_bytes %d: joined has maxFileBytes %v, want %v (%s)", tc.limit, got, tc.want, data)
		}
	}
	if got := Default().MaxFileBytes; got != 1<<30 {
		t.Errorf("default max_file_bytes %d, want 1 GiB", got)
	}
	c := Default()
	c.MaxFileBytes = -1
	if err := c.Validate(); err == nil {
		t.Error("max_file_bytes -1 was accepted")
	}
}
