package signaling

import (
	"encoding/json"
	"testing"

	"github.com/sfu-project/sfu/sfu"
)

// TestDataErrorCodes: the data error codes the media core sends are the
// ones PROTOCOL.md and this package name, and reach the client as an
// error with ref "data".
func TestDataErrorCodes(t *testing.T) {
	for sfuCode, code := range map[string]string{
		sfu.DataNotAllowed: CodeNotAllowed, sfu.DataTooLarge: CodeDataTooLarge, sfu.DataBadTopic: CodeBadTopic,
		sfu.DataBad: CodeBadData, sfu.DataRateLimited: CodeRateLimited, sfu.DataDropped: CodeDataDropped,
		sfu.DataBadChannel: CodeBadDataChannel,
	} {
		if sfuCode != code {
			t.Errorf("sfu sends %q for %q", sfuCode, code)
		}
	}
	b, err := json.Marshal(newDataErrorMsg(sfu.DataError{Code: sfu.DataDropped, Message: "m", ParticipantID: "PA_1"}))
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]string
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got["type"] != "error" || got["code"] != "data_dropped" || got["ref"] != "data" || got["participantId"] != "PA_1" || got["message"] != "m" {
		t.Fatalf("encoded %s", b)
	}
}
