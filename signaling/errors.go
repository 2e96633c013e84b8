package signaling

import "errors"

var (
	// ErrInvalidToken is returned for a token that is missing, malformed,
	// badly signed or signed with an unknown key.
	ErrInvalidToken = errors.New("signaling: invalid token")
	// ErrTokenExpired is returned for a token past its expiry.
	ErrTokenExpired = errors.New("signaling: token expired")
	// ErrBadRoom is returned for a room name that is empty, too long, not
	// UTF-8 or contains control characters.
	ErrBadRoom = errors.New("signaling: bad room name")
)

// Error codes sent to clients in error messages; see PROTOCOL.md.
const (
	CodeBadMessage        = "bad_message"
	CodeUnknownType       = "unknown_type"
	CodeMessageTooLarge   = "message_too_large"
	CodeBinaryUnsupported = "binary_unsupported"
	CodeNotJoined         = "not_joined"
	CodeAlreadyJoined     = "already_joined"
	CodeInvalidToken      = "invalid_token"
	CodeTokenExpired      = "token_expired"
	CodeRoomMismatch      = "room_mismatch"
	CodeBadRoom           = "bad_room"
	CodeBadSDP            = "bad_sdp"
	CodeBadCandidate      = "bad_candidate"
	CodeNotAllowed        = "not_allowed"
	CodeUnknownTrack      = "unknown_track"
	CodeRateLimited       = "rate_limited"
	CodeInternal          = "internal"
)

// WebSocket close codes used by the server (4000-4999 are application codes).
const (
	CloseUnauthorized = 4401
	CloseBadRequest   = 4400
	CloseRateLimited  = 4429
	// CloseJoinTimeout ends a connection that sent no successful join
	// within Config.JoinTimeout.
	CloseJoinTimeout = 4408
	// CloseReplaced ends a session because the same identity joined the
	// room on another connection (another tab or device). Clients must not
	// reconnect after it: they would replace the new session in turn.
	CloseReplaced = 4409
)

// Close reasons sent with the close codes above, for people.
const (
	closeTextReplaced    = "you joined from another tab or device"
	closeTextJoinTimeout = "no join within the time allowed"
)
