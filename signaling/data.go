package signaling

import "github.com/sfu-project/sfu/sfu"

// dataRef is the ref of the errors about application data, which the
// client sends on data channels, not in a message of its own
// (PROTOCOL.md, "Application data").
const dataRef = "data"

// dataErrorMsg is an error about application data: errorMsg's fields,
// and the receiver a message was dropped for (data_dropped).
type dataErrorMsg struct {
	Type          string `json:"type"`
	Code          string `json:"code"`
	Message       string `json:"message"`
	Ref           string `json:"ref"`
	ParticipantID string `json:"participantId,omitempty"`
}

func newDataErrorMsg(ev sfu.DataError) dataErrorMsg {
	return dataErrorMsg{Type: "error", Code: ev.Code, Message: ev.Message, Ref: dataRef, ParticipantID: ev.ParticipantID}
}
