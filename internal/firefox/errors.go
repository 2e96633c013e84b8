package firefox

import "errors"

var (
	// ErrNotFound is returned by Path when no Firefox is installed.
	ErrNotFound = errors.New("firefox: not found (Debian: apt-get install firefox-esr)")
	// ErrClosed is returned by a command sent on, or waiting on, a
	// connection that has closed.
	ErrClosed = errors.New("firefox: connection closed")
	// ErrScript wraps the exception a script threw.
	ErrScript = errors.New("firefox: script failed")
)

// CommandError is the error a BiDi command answered with.
type CommandError struct {
	Method  string // the command sent
	Code    string // the BiDi error code, e.g. "no such frame"
	Message string
}

func (e *CommandError) Error() string {
	return "firefox: " + e.Method + ": " + e.Code + ": " + e.Message
}
