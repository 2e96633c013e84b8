package turnserver

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/pion/logging"
)

// pionLogs routes pion's logging to the server's logger. pion's debug and
// trace lines (several per datagram) are dropped; everything else it
// says goes out at debug level: what it reports as errors is nearly
// always a client's doing (a malformed message, a closed connection), and
// a flood of them must not flood the log. The server logs its own
// operational messages and the refusals that matter.
type pionLogs struct{ log *slog.Logger }

// NewLogger implements logging.LoggerFactory.
func (f pionLogs) NewLogger(scope string) logging.LeveledLogger {
	return pionLogger{log: f.log.With("pion", scope)}
}

type pionLogger struct{ log *slog.Logger }

func (l pionLogger) say(msg string) { l.log.Debug("turn: " + msg) }

func (l pionLogger) sayf(format string, args ...any) {
	if l.log.Enabled(context.Background(), slog.LevelDebug) {
		l.say(fmt.Sprintf(format, args...))
	}
}

func (pionLogger) Trace(string)                     {}
func (pionLogger) Tracef(string, ...any)            {}
func (pionLogger) Debug(string)                     {}
func (pionLogger) Debugf(string, ...any)            {}
func (l pionLogger) Info(msg string)                { l.say(msg) }
func (l pionLogger) Infof(format string, a ...any)  { l.sayf(format, a...) }
func (l pionLogger) Warn(msg string)                { l.say(msg) }
func (l pionLogger) Warnf(format string, a ...any)  { l.sayf(format, a...) }
func (l pionLogger) Error(msg string)               { l.say(msg) }
func (l pionLogger) Errorf(format string, a ...any) { l.sayf(format, a...) }
