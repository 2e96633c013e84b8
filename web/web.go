// Package web is the embedded browser client: the HTML pages, the signaling client module and
// the call UI, served as static files.
//
// It must not know server internals. The only contract it shares with the rest of the SFU is
// the wire protocol in signaling/PROTOCOL.md and the dev token endpoint described there; the
// server mounts Handler at "/" after routing its own endpoints (/ws, /api/token, /healthz,
// /metrics).
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed index.html room.html assets
var files embed.FS

// contentTypes lists the types of the files we ship. It is explicit rather than taken from
// mime.TypeByExtension, whose answer depends on the host's mime tables; browsers refuse ES
// modules that are not served as JavaScript.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
	".ico":  "image/x-icon",
}

// asset is one embedded file ready to serve.
type asset struct {
	name        string
	body        []byte
	contentType string
	etag        string
}

// Handler returns the handler serving the client: "/" is the lobby page, "/room/<name>" is
// the call page for any room name, and "/assets/<file>" are the scripts and styles. Anything
// else is 404. Responses carry Cache-Control: no-cache and an ETag, so a browser revalidates
// and picks up a new binary's client at once.
func Handler() http.Handler {
	h := &handler{assets: map[string]*asset{}}
	err := fs.WalkDir(files, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := files.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		h.assets[p] = &asset{
			name:        p,
			body:        body,
			contentType: contentTypes[path.Ext(p)],
			etag:        `"` + hex.EncodeToString(sum[:8]) + `"`,
		}
		return nil
	})
	if err != nil {
		// The files are compiled in; failing to read them is a build defect.
		panic("web: reading embedded files: " + err.Error())
	}
	return h
}

type handler struct {
	assets map[string]*asset // keyed by path inside files; read-only after Handler
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a := h.route(r.URL.Path)
	if a == nil {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", a.contentType)
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("ETag", a.etag)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, a.name, time.Time{}, bytes.NewReader(a.body))
}

// route maps a request path to the file that answers it, or nil.
func (h *handler) route(p string) *asset {
	switch {
	case p == "/":
		return h.assets["index.html"]
	case strings.HasPrefix(p, "/room/") && len(p) > len("/room/"):
		// Any room name, including ones with an encoded "/" in them.
		return h.assets["room.html"]
	case strings.HasPrefix(p, "/assets/"):
		name := strings.TrimPrefix(p, "/")
		if path.Clean(name) != name {
			return nil
		}
		return h.assets[name]
	}
	return nil
}
