package signaling

import (
	"errors"
	"fmt"
)

var (
	// ErrInvalidToken is returned for a token that is missing, malformed,
	// badly signed or signed with an unknown key.
	ErrInvalidToken = errors.New("signaling: invalid token")
	// ErrTokenExpired is returned for a token past its expiry.
	ErrTokenExpired = errors.New("signaling: token expired")
	// ErrTokenNotYetValid is returned for a token used before its nbf, or
	// issued (iat) later than the allowed clock skew from now. It matches
	// ErrInvalidToken too.
	ErrTokenNotYetValid = fmt.Errorf("%w: not yet valid", ErrInvalidToken)
	// ErrTokenLifetime is returned for a token whose lifetime (exp - iat,
	// or exp - now without iat) is over the configured maximum. It matches
	// ErrInvalidToken too.
	ErrTokenLifetime = fmt.Errorf("%w: lifetime over the maximum", ErrInvalidToken)
	// ErrTokenRevoked is returned for a token whose jti or identity has
	// been revoked. It matches ErrInvalidToken too.
	ErrTokenRevoked = fmt.Errorf("%w: revoked", ErrInvalidToken)
	// ErrRevocationsFull is returned when a revocation cannot be recorded
	// because the store holds as many unexpired revocations as it may.
	ErrRevocationsFull = errors.New("signaling: too many revocations")
	// ErrBadRevocation is returned for a revocation with no jti or
	// identity, or one that ends before it starts.
	ErrBadRevocation = errors.New("signaling: bad revocation")
	// ErrBadRoom is returned for a room name that is empty, too long, not
	// UTF-8 or contains control characters.
	ErrBadRoom = errors.New("signaling: bad room name")
	// ErrBadCodecs is returned for a join whose codecs list is too long
	// or holds something that is not a MIME type.
	ErrBadCodecs = errors.New("signaling: bad codecs in join")
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
	CodeTokenNotYetValid  = "token_not_yet_valid"
	CodeTokenLifetime     = "token_lifetime_too_long"
	CodeTokenRevoked      = "token_revoked"
	CodeRoomMismatch      = "room_mismatch"
	CodeBadRoom           = "bad_room"
	CodeBadSDP            = "bad_sdp"
	CodeBadCandidate      = "bad_candidate"
	CodeNotAllowed        = "not_allowed"
	CodeUnknownTrack      = "unknown_track"
	CodeRateLimited       = "rate_limited"
	CodeUnavailable       = "unavailable"
	CodeInternal          = "internal"
	CodeNoPeer            = "no_peer"
	CodeBadSource         = "bad_source"
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
	// CloseTryAgainLater (RFC 6455's 1013) ends a connection whose join
	// cannot be served now; the client joins again after a back-off.
	CloseTryAgainLater = 1013
)

// Close reasons sent with the close codes above, for people.
const (
	closeTextReplaced    = "you joined from another tab or device"
	closeTextJoinTimeout = "no join within the time allowed"
)

// Error codes of application data (PROTOCOL.md, "Application data"),
// sent with ref "data", as are not_allowed and rate_limited for data.
const (
	CodeDataTooLarge   = "data_too_large"
	CodeBadTopic       = "bad_topic"
	CodeBadData        = "bad_data"
	CodeDataDropped    = "data_dropped"
	CodeBadDataChannel = "bad_data_channel"
)
