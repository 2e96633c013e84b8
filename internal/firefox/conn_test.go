package firefox

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"
)

// fakeFirefox answers commands in the reverse order of their arrival,
// two at a time, after an event; "fail" gets an error answer and "hang"
// none.
func fakeFirefox(t *testing.T) string {
	t.Helper()
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		var held []map[string]any
		for {
			var req map[string]any
			if ws.ReadJSON(&req) != nil {
				return
			}
			switch req["method"] {
			case "hang":
				continue
			case "drop":
				return
			}
			held = append(held, req)
			if len(held) < 2 {
				continue
			}
			_ = ws.WriteJSON(map[string]any{"type": "event", "method": "log.entryAdded", "params": map[string]any{"level": "info", "text": "hi"}})
			for i := len(held) - 1; i >= 0; i-- {
				q := held[i]
				if q["method"] == "fail" {
					_ = ws.WriteJSON(map[string]any{"type": "error", "id": q["id"], "error": "unknown command", "message": "no such thing"})
					continue
				}
				_ = ws.WriteJSON(map[string]any{"type": "success", "id": q["id"], "result": map[string]any{"echo": q["params"]}})
			}
			held = held[:0]
		}
	}))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}

func TestConnCorrelatesAnswers(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // after the fake server closes
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	events := make(chan string, 10)
	c, err := dial(ctx, fakeFirefox(t), func(method string, _ json.RawMessage) { events <- method })
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()

	// Two commands in flight, answered in reverse order: each gets its own.
	type echo struct {
		Echo struct{ N int } `json:"echo"`
	}
	errs := make(chan error, 2)
	for n := 1; n <= 2; n++ {
		go func() {
			var got echo
			err := c.call(ctx, "echo", map[string]int{"N": n}, &got)
			if err == nil && got.Echo.N != n {
				err = errors.New("got the other command's answer")
			}
			errs <- err
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if m := <-events; m != "log.entryAdded" {
		t.Errorf("event %q", m)
	}

	// An error answer is a CommandError naming the command.
	go func() { errs <- c.call(ctx, "echo", nil, nil) }()
	err = c.call(ctx, "fail", nil, nil)
	var ce *CommandError
	if !errors.As(err, &ce) || ce.Method != "fail" || ce.Code != "unknown command" || !strings.HasPrefix(err.Error(), "firefox: ") {
		t.Errorf("error answer gave %v", err)
	}
	if err := <-errs; err != nil {
		t.Error(err)
	}

	// A command never answered ends with its context.
	short, cancelShort := context.WithTimeout(ctx, 100*time.Millisecond)
	err = c.call(short, "hang", nil, nil)
	cancelShort()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("unanswered command gave %v", err)
	}

	// The connection closing fails the waiting command and later ones.
	if err := c.call(ctx, "drop", nil, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("command on a dropped connection gave %v", err)
	}
	if err := c.call(ctx, "echo", nil, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("command after the drop gave %v", err)
	}
}

func TestUserJS(t *testing.T) {
	js, err := userJS([]string{"10.77.1.2"}, map[string]any{"media.autoplay.default": 1, "x.y": "a\"b"})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`user_pref("media.navigator.streams.fake", true);`,
		`user_pref("media.autoplay.default", 1);`, // extra wins
		`user_pref("network.proxy.no_proxies_on", "10.77.1.2");`,
		`user_pref("dom.securecontext.allowlist", "10.77.1.2");`,
		`user_pref("x.y", "a\"b");`,
	} {
		if !strings.Contains(js, want) {
			t.Errorf("user.js lacks %s", want)
		}
	}
}
