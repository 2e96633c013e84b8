package signaling

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"
)

// DevTokenHandler serves GET /api/token?room=R&name=N in development mode:
// it mints a token for a fresh guest identity, so the embedded web client
// works with no setup. Production configuration does not mount it.
func DevTokenHandler(keys Keys, kid string, ttl time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		if r.Method != http.MethodGet {
			w.Header().Set("Allow", http.MethodGet)
			w.WriteHeader(http.StatusMethodNotAllowed)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": "use GET"})
			return
		}
		room := r.URL.Query().Get("room")
		name := strings.TrimSpace(r.URL.Query().Get("name"))
		name = truncateUTF8(name, 64)
		identity := "guest-" + strings.ToLower(DevKeys()["dev"][:10])
		if name == "" {
			name = identity
		}
		token, err := keys.Mint(kid, TokenRequest{
			Room: room, Identity: identity, Name: name,
			Grants: Grants{Publish: true, Subscribe: true}, TTL: ttl,
		}, time.Now())
		if err != nil {
			status := http.StatusInternalServerError
			if errors.Is(err, ErrBadRoom) {
				status = http.StatusBadRequest
			}
			w.WriteHeader(status)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"token": token, "identity": identity})
	})
}

// truncateUTF8 cuts s to at most n bytes without splitting a rune: a name
// cut mid-rune would reach clients as U+FFFD.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
