package signaling

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"
)

// DevTokenHandler serves GET /api/token?room=R&name=N in development mode:
// it mints a token for a fresh guest identity, so the embedded web client
// works with no setup. Production configuration does not mount it.
func DevTokenHandler(keys Keys, kid string, ttl time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		if r.Method != http.MethodGet {
			w.WriteHeader(http.StatusMethodNotAllowed)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": "use GET"})
			return
		}
		room := r.URL.Query().Get("room")
		name := strings.TrimSpace(r.URL.Query().Get("name"))
		if len(name) > 64 {
			name = name[:64]
		}
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
