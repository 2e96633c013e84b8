package web

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHandlerRoutes(t *testing.T) {
	tests := []struct {
		name        string
		method      string
		path        string
		status      int
		contentType string
		contains    string
	}{
		{"index", "GET", "/", 200, "text/html; charset=utf-8", `id="join"`},
		{"room page", "GET", "/room/standup", 200, "text/html; charset=utf-8", `src="/assets/ui.js"`},
		{"room with encoded name", "GET", "/room/a%2Fb%20c", 200, "text/html; charset=utf-8", `src="/assets/ui.js"`},
		{"client module", "GET", "/assets/client.js", 200, "text/javascript; charset=utf-8", "export class SFUClient"},
		{"ui module", "GET", "/assets/ui.js", 200, "text/javascript; charset=utf-8", "window.sfuDebug"},
		{"stylesheet", "GET", "/assets/style.css", 200, "text/css; charset=utf-8", ".tile"},
		{"head", "HEAD", "/assets/client.js", 200, "text/javascript; charset=utf-8", ""},
		{"room without name", "GET", "/room/", 404, "", ""},
		{"unknown page", "GET", "/nope", 404, "", ""},
		{"unknown asset", "GET", "/assets/nope.js", 404, "", ""},
		{"assets directory", "GET", "/assets/", 404, "", ""},
		{"embedded page by file name", "GET", "/index.html", 404, "", ""},
		{"path traversal", "GET", "/assets/../web.go", 404, "", ""},
		{"post", "POST", "/", 405, "", ""},
	}
	h := Handler()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, "/", nil)
			req.URL.Path = tt.path // bypass NewRequest's cleaning so traversal reaches the handler
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			res := rec.Result()
			body, _ := io.ReadAll(res.Body)

			if res.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d", res.StatusCode, tt.status)
			}
			if tt.status != 200 {
				return
			}
			if got := res.Header.Get("Content-Type"); got != tt.contentType {
				t.Errorf("Content-Type = %q, want %q", got, tt.contentType)
			}
			if got := res.Header.Get("Cache-Control"); got != "no-cache" {
				t.Errorf("Cache-Control = %q, want no-cache", got)
			}
			if !strings.Contains(string(body), tt.contains) {
				t.Errorf("body does not contain %q", tt.contains)
			}
		})
	}
}

func TestHandlerRevalidates(t *testing.T) {
	h := Handler()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/assets/client.js", nil))
	etag := rec.Result().Header.Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}

	req := httptest.NewRequest("GET", "/assets/client.js", nil)
	req.Header.Set("If-None-Match", etag)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusNotModified {
		t.Errorf("status with matching If-None-Match = %d, want 304", rec.Code)
	}
}
