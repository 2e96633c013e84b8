package signaling

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/sfu-project/sfu/sfu"
)

// Every change held is in the message, someone who joined and left within
// the interval in both lists; nothing is held after.
func TestRosterTake(t *testing.T) {
	var r roster
	r.add(sfu.ParticipantJoined{Participant: sfu.ParticipantInfo{ID: "PA_A", Identity: "a"}})
	r.add(sfu.ParticipantJoined{Participant: sfu.ParticipantInfo{ID: "PA_B", Identity: "b"}})
	r.add(sfu.ParticipantLeft{ParticipantID: "PA_A"})
	r.add(sfu.ParticipantLeft{ParticipantID: "PA_C"})
	if !r.held() {
		t.Fatal("nothing held")
	}
	data, err := r.take(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var m participantsMsg
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	if m.Type != "participants" || len(m.Joined) != 2 || m.Joined[0].ID != "PA_A" || m.Joined[1].ID != "PA_B" ||
		len(m.Left) != 2 || m.Left[0] != "PA_A" || m.Left[1] != "PA_C" {
		t.Fatalf("got %s, want A and B joined, A and C left", data)
	}
	if r.held() {
		t.Fatal("changes still held after take")
	}
	data, _ = r.take(time.Now())
	if string(data) != `{"type":"participants","joined":[],"left":[]}` {
		t.Fatalf("empty take gave %s", data)
	}
}
