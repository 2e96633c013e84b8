package signaling

import (
	"fmt"
	"time"
)

// Token policy defaults; see Config.
const (
	DefaultMaxTokenLifetime = 24 * time.Hour
	DefaultTokenClockSkew   = time.Minute
)

// TokenPolicy bounds the times an access token may carry, beyond its
// signature and its expiry.
//
// A token's lifetime is exp - iat. A token without iat is accepted, with
// its lifetime measured from the moment it is verified (exp - now):
// issuers that leave iat out keep working, and such a token is still only
// accepted within the last MaxLifetime before its expiry, so no token is
// usable for longer than MaxLifetime either way. Requiring iat would buy
// nothing more, since an issuer can write any iat it likes.
type TokenPolicy struct {
	// MaxLifetime is the longest lifetime a token may have. It must be
	// positive: a zero policy refuses every token.
	MaxLifetime time.Duration
	// ClockSkew is how far in the future iat may be, for issuers whose
	// clock runs ahead of the server's. nbf gets no such allowance: it is
	// the issuer's own statement of when the token starts, and Mint puts
	// it a minute in the past.
	ClockSkew time.Duration
}

// DefaultTokenPolicy is the policy of Default() and of Keys.Verify.
func DefaultTokenPolicy() TokenPolicy {
	return TokenPolicy{MaxLifetime: DefaultMaxTokenLifetime, ClockSkew: DefaultTokenClockSkew}
}

// check applies the policy to the times of c at now. The errors are, in
// this order of precedence: ErrInvalidToken (no exp), ErrTokenExpired,
// ErrTokenNotYetValid (nbf after now, or iat after now + ClockSkew) and
// ErrTokenLifetime.
func (p TokenPolicy) check(c *Claims, now time.Time) error {
	exp := c.ExpiresAt
	switch {
	case exp == nil:
		return fmt.Errorf("%w: no exp", ErrInvalidToken)
	case !now.Before(exp.Time):
		return ErrTokenExpired
	case c.NotBefore != nil && now.Before(c.NotBefore.Time):
		return fmt.Errorf("%w: nbf is %s ahead", ErrTokenNotYetValid, c.NotBefore.Sub(now).Round(time.Second))
	case c.IssuedAt != nil && c.IssuedAt.After(now.Add(p.ClockSkew)):
		return fmt.Errorf("%w: issued %s in the future, over the %s allowed", ErrTokenNotYetValid, c.IssuedAt.Sub(now).Round(time.Second), p.ClockSkew)
	}
	start := now
	if c.IssuedAt != nil {
		start = c.IssuedAt.Time
	}
	if life := exp.Sub(start); life > p.MaxLifetime {
		return fmt.Errorf("%w: valid for %s, at most %s", ErrTokenLifetime, life.Round(time.Second), p.MaxLifetime)
	}
	return nil
}
