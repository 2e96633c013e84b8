package node

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/sfu-project/sfu/signaling"
)

// bearer returns the token of an "Authorization: Bearer TOKEN" header.
func bearer(r *http.Request) (string, bool) {
	return strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
}

// isAdmin reports whether r bears an access token with the admin grant
// that is valid now and not revoked.
func (n *Node) isAdmin(r *http.Request) bool {
	tok, ok := bearer(r)
	if !ok {
		return false
	}
	claims, err := n.signaling.Authenticate(r.Context(), tok)
	return err == nil && claims.Grants.Admin
}

// adminOnly serves h to requests with a token that has the admin grant
// (Authorization: Bearer TOKEN), and to any request in development mode.
func (n *Node) adminOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !n.dev && !n.isAdmin(r) {
			unauthorized(w, "an admin token is required")
			return
		}
		h.ServeHTTP(w, r)
	})
}

func unauthorized(w http.ResponseWriter, msg string) {
	writeJSON(w, http.StatusUnauthorized, map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// revokeRequest is the body of POST /admin/revoke: a jti, or an identity
// in a room ("" for every room), revoked until a time.
type revokeRequest struct {
	JTI      string `json:"jti"`
	Identity string `json:"identity"`
	Room     string `json:"room"`
	// Until defaults to now + max_token_lifetime + token_clock_skew, when
	// every token issued until now (with an iat) has expired.
	Until *time.Time `json:"until"`
}

// revokeHandler serves POST /admin/revoke: it records the revocation and
// closes the sessions it revokes, answering
// {"revoked": "jti"|"identity", "until": TIME, "disconnected": N}.
func (n *Node) revokeHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "use POST"})
			return
		}
		var req revokeRequest
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 8<<10))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "want a JSON object {jti} or {identity, room}, with an optional RFC 3339 until: " + err.Error()})
			return
		}
		until := time.Now().Add(n.cfg.Signaling.MaxTokenLifetime + n.cfg.Signaling.TokenClockSkew)
		if req.Until != nil {
			until = *req.Until
		}
		var err error
		kind := "jti"
		switch {
		case (req.JTI == "") == (req.Identity == ""):
			err = fmt.Errorf("%w: give a jti or an identity", signaling.ErrBadRevocation)
		case req.JTI != "" && req.Room != "":
			err = fmt.Errorf("%w: a room goes with an identity; a jti names one token", signaling.ErrBadRevocation)
		case req.JTI != "":
			err = n.revocations.RevokeToken(r.Context(), req.JTI, until)
		default:
			kind = "identity"
			err = n.revocations.RevokeIdentity(r.Context(), req.Room, req.Identity, until)
		}
		switch {
		case errors.Is(err, signaling.ErrRevocationsFull):
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": err.Error()})
			return
		case errors.Is(err, signaling.ErrBadRevocation):
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		case err != nil:
			n.log.Error("cannot record a revocation", "err", err)
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "could not record the revocation"})
			return
		}
		dropped, err := n.signaling.DisconnectRevoked(r.Context())
		n.log.Info("revoked", kind, req.JTI+req.Identity, "room", req.Room, "until", until.UTC().Format(time.RFC3339), "disconnected", dropped)
		if err != nil {
			n.log.Error("revoked, but could not check every session", "err", err)
		}
		writeJSON(w, http.StatusOK, map[string]any{"revoked": kind, "until": until.UTC().Format(time.RFC3339), "disconnected": dropped})
	})
}

// roomDebugHandler serves GET /debug/rooms/NAME: a JSON snapshot of a
// room with each subscriber's estimate and layers.
func (n *Node) roomDebugHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		name := strings.TrimPrefix(r.URL.Path, "/debug/rooms/")
		state, ok := n.sfu.RoomState(name)
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": "no such room"})
			return
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(state)
	})
}
