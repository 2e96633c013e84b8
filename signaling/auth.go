package signaling

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// revocationTimeout bounds one check of the revocation store at join: a
// store that does not answer refuses the join rather than stalling it.
const revocationTimeout = 2 * time.Second

// Authenticate verifies token as a join does: its signature, its times
// under the configured TokenPolicy, and the revocations. Operator
// endpoints use it for their bearer tokens.
func (s *Server) Authenticate(ctx context.Context, token string) (*Claims, error) {
	claims, err := s.authenticate(ctx, token)
	if err != nil {
		return nil, err
	}
	return claims, nil
}

// authenticate is Authenticate, but like Keys.verify it returns the
// claims of a correctly signed token even when it refuses it.
func (s *Server) authenticate(ctx context.Context, token string) (*Claims, error) {
	claims, err := s.keys.verify(token, s.now(), s.policy)
	if err != nil {
		return claims, err
	}
	return claims, s.checkRevoked(ctx, claims)
}

// checkRevoked returns ErrTokenRevoked if claims are revoked, or the
// store's error.
func (s *Server) checkRevoked(ctx context.Context, claims *Claims) error {
	if s.revoked == nil {
		return nil
	}
	revoked, err := s.revoked.Revoked(ctx, claims)
	switch {
	case err != nil:
		return fmt.Errorf("signaling: checking revocations: %w", err)
	case revoked:
		return ErrTokenRevoked
	}
	return nil
}

// DisconnectRevoked closes, with the error token_revoked and close code
// 4401, every joined connection whose token is now revoked, and returns
// how many it closed. Call it after recording a revocation. A connection
// whose check fails stays, and the error is returned.
func (s *Server) DisconnectRevoked(ctx context.Context) (int, error) {
	if s.revoked == nil {
		return 0, nil
	}
	s.mu.Lock()
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	var n int
	var errs error
	for _, c := range conns { // without s.mu: the store may be remote
		claims := c.claims.Load()
		if claims == nil {
			continue
		}
		revoked, err := s.revoked.Revoked(ctx, claims)
		if err != nil {
			errs = errors.Join(errs, err)
			continue
		}
		if revoked && !c.closing.Load() {
			c.log.Info("session closed: token revoked", "room", claims.Room, "identity", claims.Subject, "jti", claims.ID)
			c.fatal(CodeTokenRevoked, "the access token has been revoked", "", CloseUnauthorized)
			n++
		}
	}
	return n, errs
}

// joinRefusal maps an authentication error to what the client is told.
func (s *Server) joinRefusal(err error) (code, message string, closeCode int) {
	switch {
	case errors.Is(err, ErrTokenExpired):
		return CodeTokenExpired, "the access token has expired", CloseUnauthorized
	case errors.Is(err, ErrTokenNotYetValid):
		return CodeTokenNotYetValid, "the access token is not valid yet (is the issuer's clock ahead?)", CloseUnauthorized
	case errors.Is(err, ErrTokenLifetime):
		return CodeTokenLifetime, fmt.Sprintf("the access token is valid for longer than the %s this server allows", s.policy.MaxLifetime), CloseUnauthorized
	case errors.Is(err, ErrTokenRevoked):
		return CodeTokenRevoked, "the access token has been revoked", CloseUnauthorized
	case errors.Is(err, ErrBadRoom):
		return CodeBadRoom, err.Error(), CloseBadRequest
	case errors.Is(err, ErrInvalidToken):
		return CodeInvalidToken, "the access token was rejected", CloseUnauthorized
	default: // the revocation store failed: the client may try again
		return CodeInternal, "could not check the access token", 0
	}
}
